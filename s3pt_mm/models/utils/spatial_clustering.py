r"""Joint-view spatial clustering of CrIBo with S3PT's depth term (paper §3.2-3.3).

Pure tensor functions (no OpenMMLab). The teacher's dense tokens of the two views of an image are
clustered together into ``M`` spatial clusters by optimal transport (Sinkhorn-Knopp), as in CrIBo
(Lebailly et al., ICLR 2024, ``Clustering.compute_assignments``), with the transport cost

.. math::
    T = T^{(CrIBo)} + \beta\, T^{(depth)}, \qquad T^{(depth)}_{ij} = |d_i - d_j|

(paper §3.3), where ``d_i`` is the depth of token ``i`` and ``d_j`` that of cluster ``j``. S3PT uses many
clusters (M = 128) and one Sinkhorn iteration so that clusters need not have equal areas (§3.2).

The clustering is per image: nothing is reduced over the batch, so under DDP every rank clusters its
own images and no cross-GPU communication is needed.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .precision import in_float32

__all__ = ['sinkhorn', 'spatial_clustering']


def sinkhorn(cost: Tensor, num_iters: int, sinkhorn_lambda: float = 20.0,
             col_marginal: Optional[Tensor] = None) -> Tensor:
    """Entropic optimal transport plan by Sinkhorn-Knopp, batched, in log space.

    Convention (CrIBo's): rows are the ``N`` tokens, with the uniform row marginal ``r = 1/N``; columns are
    the ``M`` clusters, with the column marginal ``c`` (uniform ``1/M`` unless given). The kernel
    ``P = exp(-sinkhorn_lambda * cost)`` is first normalised to a total mass of 1; then each iteration
    does the row step ``P_ij <- P_ij * r_i / sum_j P_ij`` followed by the column step
    ``P_ij <- P_ij * c_j / sum_i P_ij``. The column step comes LAST, so the column sums equal ``c``
    exactly after any number ``>= 1`` of iterations, while the row sums approach ``1/N`` only as the
    iterations go on: with one iteration (S3PT) the cluster masses are fixed but a token's total mass is
    not, so the plan stays close to the kernel (§3.2). The scalings are done on ``log P`` with
    ``logsumexp``, so large ``sinkhorn_lambda * cost`` cannot overflow.

    Args:
        cost: (B, N, M) transport cost.
        num_iters: number of (row step, column step) iterations; 0 returns the normalised kernel.
        sinkhorn_lambda: inverse entropic regularisation ``lambda``.
        col_marginal: (B, M) column marginal (positive, summing to 1); uniform if None.

    Returns:
        (B, N, M) transport plan ``P`` (total mass 1).
    """
    batch, num_tokens, num_clusters = cost.shape
    log_p = -sinkhorn_lambda * cost
    log_p = log_p - torch.logsumexp(log_p.flatten(1), dim=1)[:, None, None]
    log_r = -torch.log(cost.new_tensor(float(num_tokens)))
    if col_marginal is None:
        log_c = -torch.log(cost.new_tensor(float(num_clusters)))
    else:
        log_c = torch.log(col_marginal.to(cost.dtype))[:, None, :]
    for _ in range(num_iters):
        log_p = log_p - torch.logsumexp(log_p, dim=2, keepdim=True) + log_r
        log_p = log_p - torch.logsumexp(log_p, dim=1, keepdim=True) + log_c
    return log_p.exp()


def _min_distance_to_members(positions: Tensor, labels: Tensor, num_clusters: int) -> Tensor:
    """Single-linkage distance of every token to every cluster, without a (B, N, N, M) tensor.

    ``out[b, i, k] = min over tokens n != i with labels[b, n] == k of ||positions[b, i] - positions[b, n]||``,
    ``inf`` where cluster ``k`` has no member other than ``i``. The pairwise distances of a chunk of
    ``num_clusters`` query tokens are reduced into their cluster columns with ``scatter_reduce('amin')``,
    so the largest intermediate is (B, num_clusters, N), i.e. O(B * N * M) like the output.

    Args:
        positions: (B, N, 2). labels: (B, N) cluster of every token.

    Returns:
        (B, N, M) distances.
    """
    batch, num_tokens, _ = positions.shape
    out = positions.new_full((batch, num_tokens, num_clusters), float('inf'))
    chunk = num_clusters
    for start in range(0, num_tokens, chunk):
        stop = min(start + chunk, num_tokens)
        dist = torch.cdist(positions[:, start:stop], positions,
                           compute_mode='donot_use_mm_for_euclid_dist')
        query = torch.arange(start, stop, device=positions.device)
        dist[:, query - start, query] = float('inf')
        out[:, start:stop].scatter_reduce_(2, labels[:, None, :].expand_as(dist), dist, reduce='amin')
    return out


def _fill_undefined(cost: Tensor) -> Tensor:
    """Replace the ``inf`` entries of a (B, N, M) cost by the image's mean finite entry (0 if none):
    a cluster without other members is neither near nor far (CrIBo uses the mean cost likewise)."""
    finite = torch.isfinite(cost)
    total = torch.where(finite, cost, torch.zeros_like(cost)).sum(dim=(1, 2))
    mean = total / finite.sum(dim=(1, 2)).clamp_min(1)
    return torch.where(finite, cost, mean[:, None, None])


def _cluster_depth(depths: Tensor, valid: Tensor, labels: Tensor, num_clusters: int):
    """Mean depth of the valid member tokens of every cluster: ((B, M) depth, (B, M) has-valid-depth)."""
    total = depths.new_zeros(depths.shape[0], num_clusters).scatter_add_(
        1, labels, torch.where(valid, depths, torch.zeros_like(depths)))
    count = depths.new_zeros(depths.shape[0], num_clusters).scatter_add_(1, labels, valid.to(depths.dtype))
    return total / count.clamp_min(1), count > 0


@torch.no_grad()
@in_float32
def spatial_clustering(tokens: Tensor,
                       positions: Tensor,
                       depths: Optional[Tensor] = None,
                       *,
                       num_clusters: int,
                       num_iters: int,
                       sinkhorn_lambda: float = 20.0,
                       pos_alpha: float = 1.0,
                       depth_alpha: float = 0.0,
                       num_rounds: int = 5,
                       update_marginal: bool = True,
                       depth_normalization: str = 'max',
                       init_index: Optional[Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> Tensor:
    """Hard joint-view spatial cluster labels of the teacher's tokens (CrIBo + S3PT depth guidance).

    Algorithm (per image, all images at once; CrIBo's defaults ``n_iter = 5``, ``update_c = True``):

    1. Initialise the ``M`` centroids with ``M`` distinct tokens drawn uniformly at random (``generator``)
       or given by ``init_index``; every seed token is the only member of its cluster.
    2. For ``num_rounds`` rounds:

       * semantic similarity ``sem_ij = <x_i, mu_j>`` of the L2-normalised tokens and centroids;
       * positional cost ``pos_ij``: single-linkage distance from token ``i`` to the nearest OTHER
         member of cluster ``j`` (CrIBo; CrIBo skips every zero distance, here only the token itself,
         so a token of the other view at the same place counts); a cluster with no other member gets
         the image's mean positional cost (neither near nor far). It is divided by the diagonal of the
         bounding box of the image's token positions (both views): positions are original-image
         pixels and the crops cover a variable part of images of any resolution, so this puts
         ``pos_ij`` in [0, 1] independently of both, like CrIBo's division by the largest entry, and
         ``pos_alpha = 1`` means that being across the observed area costs as much as a cosine
         similarity lower by 1;
       * depth cost ``depth_ij = |d_i - d_j|`` (§3.3) with ``d_j`` the mean depth of cluster ``j``'s
         members of known depth; it is 0 where ``d_i`` is unknown or cluster ``j`` has no member of
         known depth, so unknown depth neither attracts nor repels. The paper gives no unit or scale for
         it. ``depth_normalization='max'`` (our default) divides it by the image's largest known token
         depth, so that it lies in [0, 1] like the semantic and positional terms and ``beta`` weighs
         comparable quantities: with ``beta`` = 0.5 / 1 / 4 (Table 1) a depth gap of 10% of the scene's
         depth range costs 0.05 / 0.1 / 0.4, against a cosine-similarity range of 2. With ``'none'`` it
         is in metres: ``beta = 4`` then makes a 1 m gap cost as much as the whole semantic range, and
         the clusters follow depth almost alone;
       * ``T = -sem + pos_alpha * pos + depth_alpha * depth``, min-max normalised to [0, 1] per image
         (CrIBo normalises over the whole batch; per image keeps the images independent);
       * plan ``P = sinkhorn(T, num_iters, sinkhorn_lambda, c)``, labels ``argmax_j P_ij``;
       * if ``update_marginal``, the next round's column marginal ``c`` is the cluster sizes
         (+ 0.01, normalised): only the first round asks for equal cluster areas (CrIBo ``update_c``);
       * the centroids become the normalised sums of their members' tokens (0 for an empty cluster),
         the members of the clusters are the new labels.

    Nothing of size (B, N, N, M) is built (CrIBo's positional cost builds one): the largest intermediate
    is O(B * N * M) (:func:`_min_distance_to_members`). Runs under ``torch.no_grad``, in float32 with
    autocast disabled (as CrIBo clusters).

    Args:
        tokens: (B, N, C) the teacher's tokens of BOTH views, concatenated along N.
        positions: (B, N, 2) the tokens' (patch centre) positions in original-image pixels.
        depths: (B, N) the tokens' depths in metres; 0 or NaN = unknown. None = no depth.
        num_clusters: ``M`` (<= N).
        num_iters: Sinkhorn iterations per round (CrIBo 5, S3PT 1).
        sinkhorn_lambda: ``lambda`` of :func:`sinkhorn`.
        pos_alpha: weight of the positional cost.
        depth_alpha: ``beta``, weight of the depth cost (0 = CrIBo).
        depth_normalization: ``'max'`` (divide the depth cost by the image's largest known token depth)
            or ``'none'`` (metres).
        num_rounds: assignment / centroid update rounds (CrIBo ``n_iter``), >= 1.
        update_marginal: CrIBo's ``update_c``.
        init_index: (B, M) distinct token indices of the initial centroids; drawn at random if None.
        generator: random generator of the initial centroids (on the tokens' device).

    Returns:
        (B, N) int64 labels in ``[0, num_clusters)``.

    Raises:
        FloatingPointError: a transport plan holds a NaN/Inf (non-finite tokens); checked once per call
            (one device synchronisation).
    """
    batch, num_tokens, _ = tokens.shape
    if depth_normalization not in ('max', 'none'):
        raise ValueError(f"depth_normalization must be 'max' or 'none', got {depth_normalization!r}")
    if not 1 <= num_clusters <= num_tokens or num_rounds < 1:
        raise ValueError(f'need 1 <= num_clusters <= N and num_rounds >= 1, got num_clusters={num_clusters}, '
                         f'N={num_tokens}, num_rounds={num_rounds}')
    tokens = F.normalize(tokens.float(), dim=-1)
    positions = positions.float()
    if init_index is None:
        keys = torch.rand(batch, num_tokens, generator=generator, device=tokens.device)
        init_index = keys.topk(num_clusters, dim=1).indices
    centroids = torch.gather(tokens, 1, init_index[..., None].expand(-1, -1, tokens.shape[-1]))
    # Members of every cluster: the seed tokens only; the other tokens are in a dummy column M.
    labels = torch.full((batch, num_tokens), num_clusters, dtype=torch.long, device=tokens.device)
    labels.scatter_(1, init_index, torch.arange(num_clusters, device=tokens.device).expand(batch, -1))

    extent = positions.amax(dim=1) - positions.amin(dim=1)
    pos_scale = extent.norm(dim=-1).clamp_min(1e-6)[:, None, None]
    use_depth = depths is not None and depth_alpha != 0
    if use_depth:
        depths = depths.float()
        valid = torch.isfinite(depths) & (depths > 0)
        depths = torch.where(valid, depths, torch.zeros_like(depths))
        depth_scale = (depths.amax(dim=1).clamp_min(1e-6) if depth_normalization == 'max' else
                       torch.ones_like(depths[:, 0]))

    col_marginal = None
    plan_finite = torch.ones((), dtype=torch.bool, device=tokens.device)
    for _ in range(num_rounds):
        cost = -(tokens @ centroids.transpose(1, 2))
        pos = _min_distance_to_members(positions, labels, num_clusters + 1)[..., :num_clusters]
        cost = cost + pos_alpha * _fill_undefined(pos / pos_scale)
        if use_depth:
            cluster_depth, cluster_valid = _cluster_depth(depths, valid, labels, num_clusters + 1)
            known = valid[:, :, None] & cluster_valid[:, None, :num_clusters]
            depth_cost = (depths[:, :, None] - cluster_depth[:, None, :num_clusters]).abs()
            cost = cost + depth_alpha * torch.where(known, depth_cost, torch.zeros_like(depth_cost)) / \
                depth_scale[:, None, None]
        low = cost.amin(dim=(1, 2), keepdim=True)
        high = cost.amax(dim=(1, 2), keepdim=True)
        cost = (cost - low) / (high - low).clamp_min(1e-12)

        plan = sinkhorn(cost, num_iters, sinkhorn_lambda, col_marginal)
        plan_finite &= torch.isfinite(plan).all()
        labels = plan.argmax(dim=2)
        if update_marginal:
            sizes = cost.new_zeros(batch, num_clusters).scatter_add_(1, labels, torch.ones_like(cost[..., 0]))
            col_marginal = (sizes + 1e-2) / (sizes + 1e-2).sum(dim=1, keepdim=True)
        centroids = F.normalize(
            torch.zeros_like(centroids).scatter_add_(1, labels[..., None].expand_as(tokens), tokens), dim=-1)
    if not plan_finite:
        raise FloatingPointError('non-finite values (NaN/Inf) in the Sinkhorn transport plan of the spatial '
                                 'clustering (the teacher tokens are not all finite)')
    return labels
