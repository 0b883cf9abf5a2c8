"""Object features of CrIBo / S3PT: the teacher's and the student's tokens mean-pooled per spatial cluster
(paper §3.2), and the pairs of objects present in both views (the L^o_cv term of paper Eq. 1). Pure torch."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .precision import in_float32


@in_float32
def pool_objects(tokens: Tensor, labels: Tensor, num_clusters: int) -> Tuple[Tensor, Tensor]:
    """Mean-pool the tokens of each view per cluster, in float32 (autocast off: the objects are what the
    queue stores and retrieves by cosine similarity, and the sum of a cluster's tokens is exact there).

    Args:
        tokens (Tensor): (B, V, P, C) patch tokens of V views.
        labels (LongTensor): (B, V, P) cluster of each token, in [0, num_clusters).
        num_clusters (int): M.

    Returns:
        tuple[Tensor, Tensor]: float32 means (B, V, M, C) (zero for empty clusters) and token counts (B, V, M).
    """
    tokens = tokens.float()
    one_hot = F.one_hot(labels, num_clusters).to(tokens.dtype)  # (B, V, P, M)
    counts = one_hot.sum(dim=2)  # (B, V, M)
    sums = torch.einsum('bvpm,bvpc->bvmc', one_hot, tokens)
    return sums / counts.clamp(min=1)[..., None], counts


def objects_in_both_views(tokens: Tensor, labels: Tensor, num_clusters: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Object features of the clusters present in both of two views (CrIBo's valid centroids).

    Args:
        tokens (Tensor): (B, 2, P, C). labels (LongTensor): (B, 2, P).

    Returns:
        tuple[Tensor, Tensor, BoolTensor]: view-1 objects (O, C), view-2 objects (O, C) of the same
        O clusters (paired row by row), and the (B, M) mask of which clusters they are.
    """
    means, counts = pool_objects(tokens, labels, num_clusters)
    valid = (counts[:, 0] > 0) & (counts[:, 1] > 0)
    return means[:, 0][valid], means[:, 1][valid], valid
