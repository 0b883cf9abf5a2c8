"""Pre-training data: the nuScenes camera dataset and depth-aware transforms (mmpretrain registries).

The synthetic data generator is :mod:`s3pt_mm.synthetic`, the converters that write the info files are in
:mod:`s3pt_mm.converters`. Importing this package makes mmengine read ``.pkl`` files without running code
(:func:`s3pt_mm.utils.info_files.restrict_info_file_loading`).
"""
from ..utils.compat import apply_compat_patches
from ..utils.info_files import restrict_info_file_loading
from .pretrain_dataset import NuScenesPretrainDataset, SampleLoadError
from .transforms import (LoadDepthFromFile, MultiViewWithDepth, PackMultiViewInputs, RandomFlipWithDepth,
                         RandomResizedCropWithDepth, TokenGeometry)

apply_compat_patches()
restrict_info_file_loading()

__all__ = [
    'NuScenesPretrainDataset', 'SampleLoadError', 'LoadDepthFromFile', 'MultiViewWithDepth',
    'PackMultiViewInputs', 'RandomFlipWithDepth', 'RandomResizedCropWithDepth', 'TokenGeometry'
]
