"""Collapse measures of a teacher's distributions over K prototypes (DINO, Caron et al. 2021, §5.3).

DINO's teacher can collapse in two ways: to one dominating prototype (every distribution one-hot on the
same k) or to the uniform distribution. Both make the teacher's distributions independent of the input,
so the KL divergence between each distribution and the batch mean, the mutual information between images
and prototypes, drops to 0; the mean entropy tells the two apart (0 vs log K).
"""
from typing import Dict

import torch
from torch import Tensor

__all__ = ['collapse_statistics']


@torch.no_grad()
def collapse_statistics(probs: Tensor, eps: float = 1e-12) -> Dict[str, float]:
    r"""Collapse statistics of N teacher distributions.

    With :math:`\bar p = \frac1N\sum_i p_i`:

    * ``entropy`` :math:`= \frac1N \sum_i H(p_i)`, :math:`H(p) = -\sum_k p_k \log p_k` (nats);
    * ``kl_to_mean`` :math:`= \frac1N \sum_i \mathrm{KL}(p_i \,\|\, \bar p) = H(\bar p) - \frac1N\sum_i H(p_i)`;
    * ``entropy_of_mean`` :math:`= H(\bar p)`;
    * ``prototypes_in_use``: the number of distinct :math:`\arg\max_k p_{ik}` over the N rows;
    * ``log_num_prototypes``: :math:`\log K`, the entropy of the uniform distribution.

    Args:
        probs: (N, K) probabilities (rows sum to 1), N >= 1.

    Returns:
        dict of python floats.
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f'collapse_statistics expects (N, K) probabilities with N >= 1, got {tuple(probs.shape)}')
    probs = probs.double()
    entropy = -(probs * probs.clamp_min(eps).log()).sum(dim=1)
    mean = probs.mean(dim=0)
    kl = (probs * (probs.clamp_min(eps).log() - mean.clamp_min(eps).log())).sum(dim=1)
    return dict(
        entropy=float(entropy.mean()),
        kl_to_mean=float(kl.mean()),
        entropy_of_mean=float(-(mean * mean.clamp_min(eps).log()).sum()),
        prototypes_in_use=float(probs.argmax(dim=1).unique().numel()),
        log_num_prototypes=float(torch.log(torch.tensor(float(probs.shape[1]), dtype=torch.float64))),
    )
