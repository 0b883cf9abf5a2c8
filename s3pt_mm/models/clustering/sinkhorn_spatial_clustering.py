"""Registry component around :func:`s3pt_mm.models.utils.spatial_clustering.spatial_clustering`, so that configs
choose the spatial clustering of CrIBo / S3PT (paper §3.2-3.3, Tables 6-7) by name and numbers."""
from typing import Optional

import torch.nn as nn
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.spatial_clustering import spatial_clustering


@MODELS.register_module()
class SinkhornSpatialClustering(nn.Module):
    """Joint-view Sinkhorn clustering of the teacher's dense tokens.

    Args:
        num_clusters (int): M, 32 for CrIBo, 128 for S3PT.
        num_iters (int): Sinkhorn-Knopp iterations, 5 for CrIBo, 1 for S3PT.
        sinkhorn_lambda (float): entropic regularisation, 20.0.
        pos_alpha (float): weight of the positional cost, 1.0 (Tables 6-7 list [1.0, 1.0], CrIBo's
            start/end of a schedule that is constant here).
        depth_alpha (float): beta of the depth cost T = T_CrIBo + beta |d_i - d_j|; 0 for CrIBo,
            4.0 for S3PT (Table 1 ablates 0.5 / 1 / 4).
        depth_normalization (str): the scale of |d_i - d_j|, which the paper does not give: ``'max'``
            (default: divided by the image's largest token depth, so in [0, 1] like the other terms) or
            ``'none'`` (metres). See :func:`~s3pt_mm.models.utils.spatial_clustering.spatial_clustering`.

    Shapes: ``forward(tokens (B, N, C), positions (B, N, 2), depths (B, N))`` -> labels (B, N).
    """

    def __init__(self, num_clusters: int, num_iters: int, sinkhorn_lambda: float = 20.0,
                 pos_alpha: float = 1.0, depth_alpha: float = 0.0, depth_normalization: str = 'max'):
        super().__init__()
        if num_clusters < 1 or num_iters < 1:
            raise ValueError(f'num_clusters and num_iters must be >= 1, got {num_clusters}, {num_iters}')
        self.num_clusters = num_clusters
        self.num_iters = num_iters
        self.sinkhorn_lambda = sinkhorn_lambda
        self.pos_alpha = pos_alpha
        self.depth_alpha = depth_alpha
        if depth_normalization not in ('max', 'none'):
            raise ValueError(f"depth_normalization must be 'max' or 'none', got {depth_normalization!r}")
        self.depth_normalization = depth_normalization

    def forward(self, tokens: Tensor, positions: Tensor, depths: Optional[Tensor] = None) -> Tensor:
        return spatial_clustering(
            tokens, positions, depths if self.depth_alpha > 0 else None,
            num_clusters=self.num_clusters, num_iters=self.num_iters,
            sinkhorn_lambda=self.sinkhorn_lambda, pos_alpha=self.pos_alpha,
            depth_alpha=self.depth_alpha, depth_normalization=self.depth_normalization)

    def extra_repr(self) -> str:
        return (f'num_clusters={self.num_clusters}, num_iters={self.num_iters}, '
                f'sinkhorn_lambda={self.sinkhorn_lambda}, pos_alpha={self.pos_alpha}, '
                f'depth_alpha={self.depth_alpha}, depth_normalization={self.depth_normalization!r}')
