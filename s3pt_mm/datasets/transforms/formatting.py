"""Packing of multi-view S3PT samples for mmpretrain's SelfSupDataPreprocessor and the S3PT model."""
from typing import Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

from ...utils.deferred_view import DeferredView
from .depth_crops import TOKEN_GEOMETRY_KEYS

DEFERRED_META_KEYS = ('encoded_img', 'img_orientation')


@TRANSFORMS.register_module()
class PackMultiViewInputs(PackInputs):
    """Pack the views of :class:`MultiViewWithDepth` and their token geometry.

    Output of one sample (V views, G <= V of them with token geometry, N tokens per such view):

    * ``inputs``: list of V uint8 tensors (3, H_v, W_v), BGR like mmpretrain's ``PackInputs``;
      mmengine's ``default_collate`` turns a batch into a list of V (B, 3, H_v, W_v) tensors, which
      ``SelfSupDataPreprocessor`` converts to RGB float and normalises.
    * ``data_samples``: a ``DataSample`` with the data fields ``token_positions`` (G, N, 2) float32
      (x, y in original image pixels), ``token_depths`` (G, N) float32 metres and ``token_depth_valid``
      (G, N) bool, and the ``meta_keys`` present in the results as metainfo.

    Views rendered on the device (``MultiViewWithDepth(render='device')``): ``inputs`` is the list of the V
    views' recipes, (MAX_OPS, 7) float64 tensors (:class:`DeferredView`), which ``default_collate`` stacks
    into V (B, MAX_OPS, 7) tensors, and the metainfo has ``encoded_img`` (the file's bytes, uint8 tensor) and
    ``img_orientation``: what ``DeferredViewsDataPreprocessor`` needs to render the views.

    Args:
        meta_keys (Sequence[str]): keys of the results stored as metainfo.
    """
    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'cam', 'sample_token', 'sample_data_token')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        super().__init__(input_key='img', algorithm_keys=(), meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        if not isinstance(results.get('img'), list):
            raise TypeError("PackMultiViewInputs expects a list of views in results['img']: put "
                            'MultiViewWithDepth before it')
        views = results['img']
        deferred = all(isinstance(view, DeferredView) for view in views)
        if deferred:
            results = {key: value for key, value in results.items() if key != 'img'}
        packed = super().transform(results)
        sample: DataSample = packed['data_samples']
        if deferred:
            packed['inputs'] = [torch.from_numpy(view.to_array()) for view in views]
            sample.set_metainfo({key: results[key] for key in DEFERRED_META_KEYS})
        for key in TOKEN_GEOMETRY_KEYS:
            if key in results:
                sample.set_field(torch.from_numpy(np.stack(results[key])), key)
        return packed
