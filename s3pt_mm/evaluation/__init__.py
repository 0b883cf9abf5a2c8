"""Measurements on generated data that are not a training or a downstream task: what colour alone tells
about the classes (:mod:`.colour_baseline`) and how well spatial clusters follow object instances
(:mod:`.cluster_quality`). Pure numpy; the tools that feed them are ``tools/colour_baseline.py`` and
``tools/cluster_quality.py``."""
from .cluster_quality import (adjusted_rand_index, instance_purity, own_cluster, partition_scores,
                              token_majority)
from .colour_baseline import ColourLookupClassifier, confusion_matrix, iou_from_confusion

__all__ = ['adjusted_rand_index', 'instance_purity', 'own_cluster', 'partition_scores', 'token_majority',
           'ColourLookupClassifier', 'confusion_matrix', 'iou_from_confusion']
