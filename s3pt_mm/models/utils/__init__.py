"""The pure math of pre-training (torch only, no registry): :mod:`.vmf` (vMF normaliser, centering, paper
§3.1), :mod:`.spatial_clustering` (Sinkhorn spatial clustering with the depth term, §3.2-3.3),
:mod:`.object_pooling` (object features per cluster), :mod:`.object_queue` (cross-image queue) and
:mod:`.collapse` (the teacher's collapse measures), :mod:`.view_rendering` (views computed on the device from
their recipes; imported explicitly, it needs torchvision)."""
from .collapse import collapse_statistics
from .object_pooling import objects_in_both_views, pool_objects
from .object_queue import ObjectQueue
from .spatial_clustering import sinkhorn, spatial_clustering
from .vmf import batch_mean, center_logits, center_probabilities, update_center, vmf_log_normalizer

__all__ = [
    'pool_objects', 'objects_in_both_views', 'ObjectQueue', 'sinkhorn', 'spatial_clustering',
    'vmf_log_normalizer', 'center_logits', 'center_probabilities', 'batch_mean', 'update_center',
    'collapse_statistics'
]
