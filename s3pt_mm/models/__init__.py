"""Pre-training models, registered in mmpretrain's MODELS registry on import.

Registry glue: :mod:`.algorithms` (S3PT, with DINO and CrIBo as its configurations), :mod:`.backbones`
(mmpretrain's ViT with DINO's initialisation), :mod:`.heads`, :mod:`.losses`, :mod:`.clustering`
(spatial clustering modules) and :mod:`.data_preprocessors` (views rendered on the device). Pure math (no
registry): :mod:`.utils` (vMF normaliser and centering, Sinkhorn spatial clustering, object pooling and
queue, collapse measures, view rendering).
"""
from ..utils.compat import apply_compat_patches
from .algorithms import S3PT
from .backbones import DINOVisionTransformer
from .clustering import SinkhornSpatialClustering
from .data_preprocessors import DeferredViewsDataPreprocessor
from .heads import DINOProjectionHead
from .losses import DINOLoss

apply_compat_patches()

__all__ = ['S3PT', 'DINOVisionTransformer', 'DINOProjectionHead', 'DINOLoss', 'SinkhornSpatialClustering',
           'DeferredViewsDataPreprocessor']
