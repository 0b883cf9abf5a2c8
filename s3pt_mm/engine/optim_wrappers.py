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

:class:`DINOAmpOptimWrapper` also runs on a machine without accelerator, where mmengine's ``AmpOptimWrapper``
refuses to start: there the loss scaler is torch's CPU ``GradScaler`` (``torch.amp.GradScaler('cpu')``, the same
dynamic loss scaling as on CUDA) and ``optim_context`` is CPU autocast in ``dtype`` (fp16 or bf16; mmengine's
default, bf16, when ``dtype`` is None). This is how the tests train every pre-training config under fp16 and bf16
mixed precision on a CPU (``tests/test_models/test_mixed_precision.py``).
"""
import contextlib
from typing import Iterable, List, Optional

import torch
from mmengine.device import is_cuda_available, is_mlu_available, is_npu_available
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


class _AmpOptimWrapperAnyDevice(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper``, unchanged on an accelerator; on a CPU-only machine (where mmengine's
    asserts one) the same settings with torch's CPU loss scaler.

    Args (as mmengine's):
        loss_scale: ``'dynamic'`` (a ``GradScaler`` with its defaults), a float (static scale) or a dict of
            ``GradScaler`` arguments.
        dtype: ``'float16'``, ``'bfloat16'``, a torch dtype or None (autocast's default for the device).
    """

    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp: bool = False, **kwargs):
        self.on_cpu = not (is_cuda_available() or is_npu_available() or is_mlu_available())
        if not self.on_cpu:
            super().__init__(loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)
            return
        if use_fsdp:
            raise ValueError('use_fsdp needs an accelerator')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            scaler_args = {}
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            scaler_args = dict(init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            scaler_args = loss_scale
        else:
            raise TypeError(f'loss_scale must be a float, a dict or "dynamic", got {loss_scale!r}')
        self.loss_scaler = torch.amp.GradScaler('cpu', **scaler_args)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype must be one of {self.valid_dtypes}, got {dtype!r}')
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype

    @contextlib.contextmanager
    def optim_context(self, model):
        """mmengine's context (gradient accumulation, autocast); on a CPU torch's CPU autocast in ``dtype``
        (mmengine's CPU autocast accepts bf16 only)."""
        if not self.on_cpu:
            with super().optim_context(model):
                yield
            return
        with OptimWrapper.optim_context(self, model), torch.autocast(
                'cpu', dtype=self.cast_dtype or torch.bfloat16, cache_enabled=False):
            yield


@OPTIM_WRAPPERS.register_module()
class DINOAmpOptimWrapper(_DINOGradientRules, _AmpOptimWrapperAnyDevice):
    """mmengine's ``AmpOptimWrapper`` with DINO's gradient rules, also on a CPU (module docstring)."""
