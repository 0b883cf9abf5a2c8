"""Do spatial clusters follow object instances? Metrics of a token clustering against ground-truth
instance ids (the quantified version of the S3PT paper's Figure 1).

All functions take flat integer arrays over the same tokens: ``clusters`` (any ids) and ``instances``
(object instance ids, :data:`BACKGROUND` for tokens of no object: road, buildings, sky). Definitions:

* **instance purity**: over the clusters whose most frequent label (background counted as one label)
  is an object instance, the fraction of the cluster's tokens that belong to that instance, averaged
  with the cluster sizes as weights. 1 means no object cluster mixes in another object or background.
* **adjusted Rand index** (Hubert and Arabie, 1985) between two partitions, from their contingency table
  ``n_ij``: with ``a_i``, ``b_j`` its row and column sums and ``C(x) = x (x - 1) / 2``,
  ``ARI = (sum C(n_ij) - E) / ((sum C(a_i) + sum C(b_j)) / 2 - E)``, ``E = sum C(a_i) sum C(b_j) / C(n)``;
  1 for identical partitions, about 0 for independent ones (1 as well when both have a single part).
  :func:`partition_scores` gives it over all tokens (background as one segment) and over the object
  tokens only (FG-ARI, as object-discovery work reports it).
* **own cluster**: an object gets a cluster of its own when some cluster has more than half of its
  tokens on that object (a split object still counts; an object merged into its neighbour or the
  background does not).
"""
from typing import Dict

import numpy as np

__all__ = ['BACKGROUND', 'adjusted_rand_index', 'instance_purity', 'own_cluster', 'partition_scores',
           'token_majority']

#: Instance id of tokens that belong to no object.
BACKGROUND = -1


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(parts of a, parts of b) token counts."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def _pairs(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x * (x - 1) / 2


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index of two labelings of the same tokens (see the module docstring)."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f'need two non-empty labelings of the same tokens, got {a.shape} and {b.shape}')
    table = _contingency(a, b)
    index = _pairs(table).sum()
    rows, cols = _pairs(table.sum(axis=1)).sum(), _pairs(table.sum(axis=0)).sum()
    expected = rows * cols / _pairs(a.size) if a.size > 1 else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:  # Both labelings are one part (or all singletons): identical partitions.
        return 1.0
    return float((index - expected) / (maximum - expected))


def _majority(clusters: np.ndarray, instances: np.ndarray):
    """Per cluster: (cluster ids, majority label, tokens of the majority label, cluster size)."""
    cluster_ids, ic = np.unique(clusters, return_inverse=True)
    labels, il = np.unique(instances, return_inverse=True)
    table = np.zeros((len(cluster_ids), len(labels)), dtype=np.int64)
    np.add.at(table, (ic, il), 1)
    best = table.argmax(axis=1)
    return cluster_ids, labels[best], table[np.arange(len(best)), best], table.sum(axis=1)


def instance_purity(clusters: np.ndarray, instances: np.ndarray) -> float:
    """Size-weighted purity of the clusters whose majority label is an object; NaN when there is none."""
    _, majority, count, size = _majority(np.ravel(clusters), np.ravel(instances))
    objects = majority != BACKGROUND
    if not objects.any():
        return float('nan')
    return float(count[objects].sum() / size[objects].sum())


def own_cluster(clusters: np.ndarray, instances: np.ndarray) -> Dict[int, bool]:
    """For every object instance among the tokens: whether some cluster has more than half of its tokens
    on it."""
    clusters, instances = np.ravel(clusters), np.ravel(instances)
    _, majority, count, size = _majority(clusters, instances)
    owned = {int(m) for m, c, s in zip(majority, count, size) if m != BACKGROUND and 2 * c > s}
    return {int(i): int(i) in owned for i in np.unique(instances) if i != BACKGROUND}


def partition_scores(clusters: np.ndarray, instances: np.ndarray) -> Dict[str, float]:
    """``purity``, ``ari`` (all tokens, background one segment) and ``fg_ari`` (object tokens only; NaN
    without object tokens) of one image's clustering."""
    clusters, instances = np.ravel(clusters), np.ravel(instances)
    foreground = instances != BACKGROUND
    fg_ari = adjusted_rand_index(clusters[foreground], instances[foreground]) if foreground.any() else float('nan')
    return dict(purity=instance_purity(clusters, instances), ari=adjusted_rand_index(clusters, instances),
                fg_ari=fg_ari)


def token_majority(label_map: np.ndarray, patch: int) -> np.ndarray:
    """(rows, cols) most frequent label of every ``patch`` x ``patch`` block of an (H, W) integer map
    whose sides are multiples of ``patch`` (ties go to the smaller label)."""
    height, width = label_map.shape
    if height % patch or width % patch:
        raise ValueError(f'map of {height}x{width} is not a whole number of {patch}-pixel patches')
    rows, cols = height // patch, width // patch
    blocks = label_map.reshape(rows, patch, cols, patch).transpose(0, 2, 1, 3).reshape(rows * cols, -1)
    values, inverse = np.unique(blocks, return_inverse=True)
    counts = np.zeros((rows * cols, len(values)), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(rows * cols), blocks.shape[1]), inverse.reshape(-1)), 1)
    return values[counts.argmax(axis=1)].reshape(rows, cols)
