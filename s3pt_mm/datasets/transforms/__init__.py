from .depth_crops import (MultiViewWithDepth, RandomFlipWithDepth, RandomResizedCropWithDepth,
                          TokenGeometry)
from .formatting import PackMultiViewInputs
from .loading import LoadDepthFromFile

__all__ = [
    'LoadDepthFromFile', 'RandomResizedCropWithDepth', 'RandomFlipWithDepth', 'TokenGeometry',
    'MultiViewWithDepth', 'PackMultiViewInputs'
]
