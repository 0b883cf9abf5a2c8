from ...utils.deferred_view import DeferredView
from .crop_sources import DepthForCrops, ImageForCrops
from .depth_crops import (MultiViewWithDepth, RandomFlipWithDepth, RandomResizedCropWithDepth,
                          TokenGeometry)
from .formatting import PackMultiViewInputs
from .loading import LoadDepthFromFile, LoadImageForCrops
from .photometric import DeferrableGrayscale, DeferrableSolarize, FastColorJitter, FastGaussianBlur

__all__ = [
    'LoadImageForCrops', 'LoadDepthFromFile', 'ImageForCrops', 'DepthForCrops', 'RandomResizedCropWithDepth',
    'RandomFlipWithDepth', 'TokenGeometry', 'MultiViewWithDepth', 'FastColorJitter', 'FastGaussianBlur',
    'PackMultiViewInputs', 'DeferredView', 'DeferrableGrayscale', 'DeferrableSolarize'
]
