"""Downstream semantic segmentation (mmsegmentation 1.2.2) with a frozen pre-trained ViT (paper A.2.1).

Importing this package (``custom_imports=dict(imports=['s3pt_mm.seg'])`` in the configs under
``configs/segmentation/``) registers into mmseg's registries:

* ``FrozenPretrainedViT`` (MODELS) - the pre-trained teacher (or student) ViT, frozen;
* ``TrainableParamsOptimWrapperConstructor`` (OPTIM_WRAPPER_CONSTRUCTORS) - optimizes the head only;
* ``NuImagesSegDataset`` (DATASETS) - nuImages with the labels of
  ``tools/dataset_converters/nuimages_seg.py``;
* ``PerClassIoUMetric`` and ``DomainTransferIoUMetric`` (METRICS) - per-class IoU in the logs, and
  the domain-transfer IoU (Table 3: over all target classes, and over the classes both sets share).

Label sets and mappings: :mod:`.classes`; learning-rate sweeps and result tables: :mod:`.results`. The
labels come from :mod:`s3pt_mm.converters.nuimages_seg`. It never imports mmdet3d or the pre-training
models.
"""
from mmseg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

from ..downstream import FrozenPretrainedViT, TrainableParamsOptimWrapperConstructor
from .classes import (CITYSCAPES_CLASSES, NUIMAGES_CATEGORY_TO_CLASS, NUIMAGES_SEG_CLASSES,
                      NUIMAGES_SEG_CLASSES_12, SHARED_CLASSES, nuimages_class_id, shared_class_lut, transfer_lut)
from .datasets import NuImagesSegDataset
from .metrics import DomainTransferIoUMetric, PerClassIoUMetric

MODELS.register_module(module=FrozenPretrainedViT)
OPTIM_WRAPPER_CONSTRUCTORS.register_module(module=TrainableParamsOptimWrapperConstructor)

__all__ = [
    'FrozenPretrainedViT', 'NuImagesSegDataset', 'PerClassIoUMetric', 'DomainTransferIoUMetric',
    'TrainableParamsOptimWrapperConstructor', 'NUIMAGES_SEG_CLASSES', 'NUIMAGES_SEG_CLASSES_12',
    'NUIMAGES_CATEGORY_TO_CLASS', 'CITYSCAPES_CLASSES', 'SHARED_CLASSES', 'nuimages_class_id', 'shared_class_lut',
    'transfer_lut'
]
