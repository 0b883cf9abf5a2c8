"""PETR 3D object detection on a frozen pre-trained ViT, for mmdetection3d 1.4 (paper §4.2, appendix A.2.2).

Importing this package registers, in mmdet3d's registries:

* MODELS: ``PETR`` (detector), ``PETRHead``, ``PETRTransformerDecoder``, ``PositionEmbedding3D``,
  ``GridMask``, ``FrozenPretrainedViT``;
* TASK_UTILS: ``BBox3DL1Cost``, ``NMSFreeCoder`` (the matching is mmdet's ``HungarianAssigner``);
* TRANSFORMS: ``MultiViewResizeCropFlip``, ``MultiViewGlobalRotScale``;
* OPTIM_WRAPPER_CONSTRUCTORS: ``TrainableParamsOptimWrapperConstructor``.

Configs select it with ``custom_imports = dict(imports=['s3pt_mm.det3d'])``; pre-training never imports it,
and it never imports the pre-training models. Importing it makes the info files (``nuscenes_infos_*.pkl``,
read by mmdet3d's ``NuScenesDataset`` and ``NuScenesMetric``) load without running code
(:func:`s3pt_mm.utils.info_files.restrict_info_file_loading`).
:mod:`.distance_eval` evaluates per distance range; the info files come from
:mod:`s3pt_mm.converters.nuscenes_det3d` (``tools/create_data.py``).
"""
from mmdet3d.evaluation.metrics import nuscenes_metric
from mmdet3d.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from ..downstream import FrozenPretrainedViT, TrainableParamsOptimWrapperConstructor
from ..utils.info_files import restrict_info_file_loading
from .distance_eval import evaluate_distance_ranges
from .grid_mask import GridMask
from .match_costs import BBox3DL1Cost
from .nms_free_coder import NMSFreeCoder
from .petr import PETR
from .petr_head import PETRHead
from .positional_encoding import PositionEmbedding3D
from .transformer import PETRTransformerDecoder
from .transforms import MultiViewGlobalRotScale, MultiViewResizeCropFlip

MODELS.register_module(module=FrozenPretrainedViT)
OPTIM_WRAPPER_CONSTRUCTORS.register_module(module=TrainableParamsOptimWrapperConstructor)
restrict_info_file_loading(nuscenes_metric)

__all__ = [
    'PETR', 'PETRHead', 'PETRTransformerDecoder', 'PositionEmbedding3D', 'GridMask', 'FrozenPretrainedViT',
    'BBox3DL1Cost', 'NMSFreeCoder', 'MultiViewResizeCropFlip', 'MultiViewGlobalRotScale',
    'TrainableParamsOptimWrapperConstructor', 'evaluate_distance_ranges'
]
