"""Collapse measures of a teacher's distributions over K prototypes (DINO, Caron et al. 2021, §5.3).

DINO's teacher can collapse in two ways: to one dominating prototype (every distribution one-hot on the
same k) or to the uniform distribution. Both make the teacher's distributions independent of the input,
so the KL divergence between each distribution and the batch mean, the mutual information between images
and prototypes, drops to 0; the mean entropy tells the two apart (0 vs log K).
"""
import math
from typing import Dict

import torch
from torch import Tensor

__all__ = ['collapse_statistics']

#: elements of the block of rows whose float64 temporaries exist at a time (16 MiB each)
BLOCK_ELEMENTS = 1 << 21


@torch.no_grad()
def collapse_statistics(probs: Tensor, eps: float = 1e-12, block_elements: int = BLOCK_ELEMENTS) -> Dict[str, float]:
    r"""Collapse statistics of N teacher distributions.

    With :math:`\bar p = \frac1N\sum_i p_i`:

    * ``entropy`` :math:`= \frac1N \sum_i H(p_i)`, :math:`H(p) = -\sum_k p_k \log p_k` (nats);
    * ``kl_to_mean`` :math:`= \frac1N \sum_i \mathrm{KL}(p_i \,\|\, \bar p) = H(\bar p) - \frac1N\sum_i H(p_i)`;
    * ``entropy_of_mean`` :math:`= H(\bar p)`;
    * ``prototypes_in_use``: the number of distinct :math:`\arg\max_k p_{ik}` over the N rows;
    * ``log_num_prototypes``: :math:`\log K`, the entropy of the uniform distribution.

    Memory: the rows are read in blocks of ``block_elements`` and computed in float64 block by block, and
    ``kl_to_mean`` comes from the identity above (no second pass). Nothing of size (N, K) is allocated:
    with the object distributions of a paper-size step ((2 O, 65536) with O in the thousands) a float64
    copy of them all would be gigabytes.

    Args:
        probs: (N, K) probabilities (rows sum to 1), N >= 1.
        block_elements: elements per block of rows.

    Returns:
        dict of python floats.
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f'collapse_statistics expects (N, K) probabilities with N >= 1, got {tuple(probs.shape)}')
    num_rows, num_prototypes = probs.shape
    rows = max(1, block_elements // num_prototypes)
    entropy_sum = torch.zeros((), dtype=torch.float64, device=probs.device)
    column_sum = torch.zeros(num_prototypes, dtype=torch.float64, device=probs.device)
    winners = []
    for start in range(0, num_rows, rows):
        block = probs[start:start + rows].double()
        entropy_sum -= (block * block.clamp_min(eps).log()).sum()
        column_sum += block.sum(dim=0)
        winners.append(block.argmax(dim=1))
    mean = column_sum / num_rows
    entropy = entropy_sum / num_rows
    entropy_of_mean = -(mean * mean.clamp_min(eps).log()).sum()
    return dict(
        entropy=float(entropy),
        kl_to_mean=float(entropy_of_mean - entropy),
        entropy_of_mean=float(entropy_of_mean),
        prototypes_in_use=float(torch.cat(winners).unique().numel()),
        log_num_prototypes=math.log(num_prototypes),
    )
