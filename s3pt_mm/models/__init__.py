"""Pre-training models, registered in mmpretrain's MODELS registry on import.

Pure math (no registry): :mod:`.vmf` (vMF normaliser, centering), :mod:`.clustering` (Sinkhorn spatial
clustering), :mod:`.objects` (object pooling, cross-image queue). Registry glue: :mod:`.heads`,
:mod:`.losses`, :mod:`.spatial_clustering`, :mod:`.algorithms`, and :mod:`.frozen_vit` (the frozen
backbone of the downstream evaluations).
"""
from .algorithms import S3PT
from .frozen_vit import FrozenPretrainedViT
from .heads import DINOProjectionHead
from .losses import DINOLoss
from .spatial_clustering import SinkhornSpatialClustering

__all__ = ['S3PT', 'FrozenPretrainedViT', 'DINOProjectionHead', 'DINOLoss', 'SinkhornSpatialClustering']
