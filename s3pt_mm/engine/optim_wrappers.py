"""Optimizer wrappers with the gradient rules of the DINO / CrIBo training loops (paper Tables 5-7).

DINO's and CrIBo's loops do two things between ``loss.backward()`` and ``optimizer.step()`` that mmengine's
:class:`~mmengine.optim.OptimWrapper` cannot express:

1. **Per-tensor gradient clipping** ("gradient clip 0.3" of the ViT-B/16 columns): *each* parameter tensor's
   gradient is rescaled to norm ``max_norm`` when its norm exceeds it (``clip_coef = max_norm / (norm +
   1e-6)``, applied when ``< 1``). mmengine's ``clip_grad=dict(max_norm=...)`` clips the *global* norm of all
   gradients together, which with ``max_norm=0.3`` scales the whole network down on nearly every step.
2. **Freezing the last layer** ("freeze last layer epochs"): during the first epochs the prototype
   layers' gradients are dropped (``p.grad = None``), so AdamW neither moves them nor decays them nor
   updates their moments. The parameters still take part in the forward pass, so DDP needs no
   unused-parameter search (``find_unused_parameters=False``).

:class:`DINOOptimWrapper` (fp32) and :class:`DINOAmpOptimWrapper` (fp16/bf16 with a loss scaler; the
gradients are unscaled before clipping, as with ``GradScaler.unscale_`` in DINO) take::

    clip_grad=dict(type='per_tensor', max_norm=0.3)   # DINO / CrIBo clipping
    clip_grad=dict(type='norm', max_norm=...)         # mmengine's global-norm clipping, unchanged
    clip_grad=None                                    # no clipping (ViT-S/16 column: "-")

and :meth:`set_frozen_parameters` (called by
:class:`~s3pt_mm.engine.hooks.FreezePrototypesHook` before every iteration).
"""
from typing import Iterable, List, Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import Tensor

__all__ = ['clip_grad_per_tensor_', 'DINOOptimWrapper', 'DINOAmpOptimWrapper']


@torch.no_grad()
def clip_grad_per_tensor_(parameters: Iterable[Tensor], max_norm: float, eps: float = 1e-6) -> Tensor:
    """Clip the gradient of every tensor separately to L2 norm ``max_norm`` (in place).

    ``g <- g * min(1, max_norm / (||g||_2 + eps))`` for each parameter's gradient ``g``.

    Returns:
        The largest per-tensor gradient norm before clipping (0 if no parameter has a gradient).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norms = torch._foreach_norm(grads, 2.0)
    scales = [torch.clamp(max_norm / (n + eps), max=1.0) for n in norms]
    torch._foreach_mul_(grads, scales)
    return torch.stack(norms).max()


class _DINOGradientRules:
    """Mixin for mmengine optimizer wrappers: per-tensor clipping and frozen parameters (see module)."""

    def __init__(self, *args, clip_grad: Optional[dict] = None, **kwargs):
        per_tensor_max_norm = None
        if clip_grad is not None and clip_grad.get('type') == 'per_tensor':
            clip_grad = dict(clip_grad)
            clip_grad.pop('type')
            per_tensor_max_norm = clip_grad.pop('max_norm')
            if clip_grad:
                raise ValueError(f"clip_grad=dict(type='per_tensor') takes only max_norm, got {clip_grad}")
            # mmengine's wrapper then runs its clipping step (unscaling first under AMP) with our rule.
            clip_grad = dict(type='norm', max_norm=per_tensor_max_norm)
        super().__init__(*args, clip_grad=clip_grad, **kwargs)
        if per_tensor_max_norm is not None:
            self.clip_func = clip_grad_per_tensor_
            self.grad_name = 'grad_norm_max_tensor'
        self._frozen: List[Tensor] = []

    def set_frozen_parameters(self, params: Iterable[Tensor]) -> None:
        """Parameters whose gradients are dropped before every following step (empty: none)."""
        self._frozen = list(params)

    def step(self, **kwargs) -> None:
        for p in self._frozen:
            p.grad = None
        super().step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class DINOOptimWrapper(_DINOGradientRules, OptimWrapper):
    """mmengine's ``OptimWrapper`` with DINO's gradient rules (module docstring)."""


@OPTIM_WRAPPERS.register_module()
class DINOAmpOptimWrapper(_DINOGradientRules, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` with DINO's gradient rules (module docstring)."""
