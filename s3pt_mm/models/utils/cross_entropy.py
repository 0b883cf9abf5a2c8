"""Cross-entropy between fixed target distributions and the softmax of logits, for several targets that
share the same logits (the student's objects of a view are taught by the teacher's objects of the other
view, L^o_cv, and by their retrieved neighbours, L^o_ci). Pure torch.

For a target ``P`` (rows summing to 1) and logits ``s``:

.. math::
    H(P, \\operatorname{softmax}(s)) = -\\sum_k P_k \\log\\operatorname{softmax}(s)_k
        = \\operatorname{logsumexp}(s) - \\langle P, s\\rangle,
    \\qquad \\frac{\\partial H}{\\partial s} = \\operatorname{softmax}(s) - P.

The autograd function computes the log-sum-exp once for all targets and, in the backward pass, the
gradient of their weighted sum in one buffer, ``softmax(s) * sum_t g_t - sum_t g_t P_t``, instead of
storing ``log softmax(s)``, a product per target and a gradient per target, which for (N, 65536)
logits are each a pass over hundreds of megabytes.
"""
from typing import Sequence

import torch
from torch import Tensor

__all__ = ['soft_cross_entropy']


class _SoftCrossEntropy(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits: Tensor, *targets: Tensor) -> Tensor:
        lse = torch.logsumexp(logits, dim=-1)
        ctx.save_for_backward(logits, lse, *targets)
        return torch.stack([lse - torch.linalg.vecdot(target, logits) for target in targets], dim=1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        logits, lse, *targets = ctx.saved_tensors
        grad_logits = None
        if ctx.needs_input_grad[0]:
            grad_logits = (logits - lse[:, None]).exp_().mul_(grad.sum(dim=1, keepdim=True))
            for i, target in enumerate(targets):
                grad_logits.addcmul_(target, grad[:, i:i + 1], value=-1.0)
        return (grad_logits, ) + (None, ) * len(targets)


def soft_cross_entropy(logits: Tensor, targets: Sequence[Tensor]) -> Tensor:
    """``H(P_t, softmax(logits))`` per row for each target ``P_t``.

    Args:
        logits: (N, K) logits ``s`` (the student's, scaled by its temperature).
        targets: T tensors (N, K), each row a probability distribution (summing to 1); constants (no
            gradient flows to them).

    Returns:
        (N, T) cross-entropies.
    """
    if not targets:
        raise ValueError('soft_cross_entropy needs at least one target')
    if any(target.requires_grad for target in targets):
        raise ValueError('the targets of soft_cross_entropy are constants (teacher distributions); detach them')
    return _SoftCrossEntropy.apply(logits, *targets)
