"""Pre-training data: the nuScenes camera dataset and depth-aware transforms (mmpretrain registries).

The synthetic data generator is :mod:`s3pt_mm.synthetic`, the converters that write the info files are in
:mod:`s3pt_mm.converters`.
"""
from ..utils.compat import apply_compat_patches
from .pretrain_dataset import NuScenesPretrainDataset, SampleLoadError
from .transforms import (LoadDepthFromFile, MultiViewWithDepth, PackMultiViewInputs, RandomFlipWithDepth,
                         RandomResizedCropWithDepth, TokenGeometry)

apply_compat_patches()

__all__ = [
    'NuScenesPretrainDataset', 'SampleLoadError', 'LoadDepthFromFile', 'MultiViewWithDepth',
    'PackMultiViewInputs', 'RandomFlipWithDepth', 'RandomResizedCropWithDepth', 'TokenGeometry'
]
