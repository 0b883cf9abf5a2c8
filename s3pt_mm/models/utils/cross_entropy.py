"""Cross-entropy between fixed target distributions and the softmax of logits, for several targets that
share the same logits (the student's objects of a view are taught by the teacher's objects of the other
view, L^o_cv, and by their retrieved neighbours, L^o_ci). Pure torch.

For a target ``P`` (rows summing to 1) and logits ``s`` (the student's, already divided by its temperature
and shifted by the vMF term; :meth:`DINOProjectionHead.forward` computes them in one matrix product):

.. math::
    H(P, \\operatorname{softmax}(s)) = -\\sum_k P_k \\log\\operatorname{softmax}(s)_k
        = \\operatorname{logsumexp}(s) - \\langle P, s\\rangle,
    \\qquad \\frac{\\partial H}{\\partial s} = \\operatorname{softmax}(s) - P.

For (N, 65536) logits every full-size temporary is hundreds of megabytes, and on a CPU much of the cost of
one is the fresh memory it is written to. The autograd function therefore creates no (N, K) tensor in the
forward pass (the log-sum-exp and the dot products with the targets are computed over blocks of rows, whose
temporaries are a few megabytes on a CPU) and exactly one in the backward pass: the gradient of the targets'
weighted sum, ``softmax(s) * sum_t g_t - sum_t g_t P_t``, computed in place.

Precision: both passes are float32 with autocast off (:func:`~.precision.float32_region`). Under autocast the
``vecdot`` of the forward pass would run in half precision (the value is off by ~0.07 nats per row in fp16
and up to 1.3 in bf16 at K = 65536, and the non-finite check of training reads it).
"""
from typing import Sequence

import torch
from torch import Tensor

from .precision import float32_region

__all__ = ['soft_cross_entropy']

#: elements per block of rows of the forward pass's temporaries on a CPU (8 MiB of float32); on a GPU the
#: caching allocator reuses memory, and the whole tensor is one block
CPU_BLOCK_ELEMENTS = 1 << 21


class _SoftCrossEntropy(torch.autograd.Function):

    @staticmethod
    def forward(ctx, logits: Tensor, *targets: Tensor) -> Tensor:
        with float32_region():
            dtype = torch.promote_types(logits.dtype, torch.float32)  # float64 stays float64
            return _SoftCrossEntropy._forward(ctx, logits.to(dtype), *(target.to(dtype) for target in targets))

    @staticmethod
    def _forward(ctx, logits: Tensor, *targets: Tensor) -> Tensor:
        out = logits.new_empty(logits.shape[0], len(targets))
        block = logits.numel() if logits.is_cuda else CPU_BLOCK_ELEMENTS  # elements per block of rows
        rows = max(1, block // max(logits.shape[1], 1))  # at least 1, also for N = 0 rows
        for start in range(0, logits.shape[0], rows):
            block = logits[start:start + rows]
            lse = torch.logsumexp(block, dim=-1)
            for i, target in enumerate(targets):
                out[start:start + rows, i] = lse - torch.linalg.vecdot(target[start:start + rows], block)
        ctx.save_for_backward(logits, *targets)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        logits, *targets = ctx.saved_tensors
        grad_logits = None
        if ctx.needs_input_grad[0]:
            grad = grad.to(logits.dtype)
            grad_logits = torch.softmax(logits, dim=-1).mul_(grad.sum(dim=1, keepdim=True))
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
