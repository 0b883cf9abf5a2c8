"""Pre-training models, registered in mmpretrain's MODELS registry on import.

Pure math (no registry): :mod:`.vmf` (vMF normaliser, centering), :mod:`.clustering` (Sinkhorn spatial
clustering), :mod:`.objects` (object pooling, cross-image queue). Registry glue: :mod:`.heads`,
:mod:`.losses`, :mod:`.spatial_clustering`, :mod:`.algorithms`.
"""
from .algorithms import S3PT
from .heads import DINOProjectionHead
from .losses import DINOLoss
from .spatial_clustering import SinkhornSpatialClustering

__all__ = ['S3PT', 'DINOProjectionHead', 'DINOLoss', 'SinkhornSpatialClustering']
