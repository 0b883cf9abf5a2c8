"""Pre-training data: the nuScenes camera dataset and depth-aware transforms (mmpretrain registries).

The synthetic data generator (:mod:`s3pt_mm.datasets.synthetic`) is not imported here.
"""
from .pretrain_dataset import NuScenesPretrainDataset
from .transforms import (LoadDepthFromFile, MultiViewWithDepth, PackMultiViewInputs, RandomFlipWithDepth,
                         RandomResizedCropWithDepth, TokenGeometry)

__all__ = [
    'NuScenesPretrainDataset', 'LoadDepthFromFile', 'MultiViewWithDepth', 'PackMultiViewInputs',
    'RandomFlipWithDepth', 'RandomResizedCropWithDepth', 'TokenGeometry'
]
