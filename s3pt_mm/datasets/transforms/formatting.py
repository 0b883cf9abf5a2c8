"""Packing of multi-view S3PT samples for mmpretrain's SelfSupDataPreprocessor and the S3PT model."""
import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample


@TRANSFORMS.register_module()
class PackMultiViewInputs(PackInputs):
    """Pack the views and their token geometry.

    Output: ``inputs`` = list of V (3, H, W) uint8 tensors (one per view; mmengine's collate makes it a
    list of (B, 3, H, W)), ``data_samples`` = a DataSample with ``token_positions`` (G, N, 2) float32,
    ``token_depths`` (G, N) float32 and ``token_depth_valid`` (G, N) bool for the G views that have token
    geometry (the global views; local views have none), plus the meta keys.
    """
    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'cam', 'sample_data_token')
    GEOMETRY_KEYS = ('token_positions', 'token_depths', 'token_depth_valid')

    def __init__(self, meta_keys=DEFAULT_META_KEYS):
        super().__init__(input_key='img', algorithm_keys=(), meta_keys=meta_keys)

    def transform(self, results):
        packed = super().transform(results)
        sample: DataSample = packed['data_samples']
        for key in self.GEOMETRY_KEYS:
            if key in results:
                sample.set_field(torch.from_numpy(np.stack(results[key])), key)
        return packed
