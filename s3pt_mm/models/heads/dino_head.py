"""DINO projection head with separate prototype layers for [CLS] and object tokens (CrIBo).

    z = normalize(MLP(x))            MLP: Linear-GELU-Linear-GELU-Linear, hidden 2048, bottleneck 256
    logits_k = <W_k, z>              W_k = g_k * v_k / ||v_k||   (K prototypes, weight-normalised)

With ``norm_last_layer=True`` the magnitudes g_k are fixed to 1 (DINO's default for ViT-B); with
``False`` they are learnt, which the vMF-normalised formulation of S3PT (paper Eq. 2) needs: there
||W_k|| = |g_k| sets the concentration kappa_k = ||W_k|| / tau of prototype k.
"""
import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from ..utils.vmf import shifted_logits


class PrototypeLayer(nn.Module):
    """K weight-normalised prototypes W_k = g_k v_k / ||v_k|| (no bias), as DINO's / CrIBo's ``last_layer``
    (``nn.utils.weight_norm(nn.Linear(p, K, bias=False))``).

    The parameters have the reference's shapes, so that shape-based rules treat them alike: ``direction``
    (K, p) is ``weight_v`` and ``magnitude`` (K, 1) is ``weight_g`` -- two-dimensional, hence weight-decayed
    by the DINO/CrIBo rule "no decay for biases and 1-D tensors" (``get_params_groups``). Under the vMF
    formulation ||W_k|| / tau is the concentration kappa_k of prototype k, and this decay is what bounds it.
    ``direction`` starts as ``nn.Linear``'s default weights and ``magnitude`` at 1, as in the reference.

    Args:
        in_dim (int): bottleneck dimension p.
        num_prototypes (int): K.
        norm_last_layer (bool): fix g_k = 1 (unit prototypes; ``weight_g.requires_grad = False``).
    """

    def __init__(self, in_dim: int, num_prototypes: int, norm_last_layer: bool = True):
        super().__init__()
        self.direction = nn.Parameter(torch.empty(num_prototypes, in_dim))
        nn.init.kaiming_uniform_(self.direction, a=math.sqrt(5))  # nn.Linear's default weight init
        self.magnitude = nn.Parameter(torch.ones(num_prototypes, 1), requires_grad=not norm_last_layer)

    def weight(self) -> Tensor:
        """(K, p) prototype matrix W = v_k * (g_k / ||v_k||): one (K, p) pass (the scale is per row)."""
        scale = self.magnitude / self.direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.direction * scale

    def norms(self) -> Tensor:
        """(K,) ||W_k|| = |g_k|, differentiable: the vMF normaliser log C_p(||W_k|| / tau) of Eq. 2 is a
        function of the prototypes, and its gradient is part of the student's."""
        return self.magnitude.abs().squeeze(1)

    def forward(self, z: Tensor, temperature: float = 1.0, shift: Optional[Tensor] = None) -> Tensor:
        """(N, p) embeddings -> (N, K) logits ``<W_k, z> / temperature + shift_k`` (the defaults give the
        raw ``<W_k, z>``). ``shift``: (K,) or None, e.g. the vMF term ``log C_p(||W_k|| / tau)`` of Eq. 2,
        differentiable.

        In float32 the scaling and the shift happen inside the matrix product (``addmm``): no second
        (N, K) pass. Under autocast the product is half precision, so the scaling and the shift (hundreds
        in magnitude for the vMF term) are applied to its float32 copy instead."""
        weight = self.weight()
        if temperature == 1.0 and shift is None:
            return z @ weight.t()
        if torch.is_autocast_enabled(z.device.type):
            return shifted_logits((z @ weight.t()).float(), temperature, shift)
        bias = z.new_zeros(()) if shift is None else shift.to(z.dtype)
        return torch.addmm(bias, z, weight.t(), beta=0.0 if shift is None else 1.0, alpha=1.0 / temperature)


@MODELS.register_module()
class DINOProjectionHead(BaseModule):
    """Shared MLP + L2-normalised bottleneck + separate prototype layers per token kind.

    Args:
        in_channels (int): backbone width (384 for ViT-S/16, 768 for ViT-B/16).
        num_prototypes (int): K for the [CLS] (global) prototypes, paper Tables 5-7: 65536.
        num_object_prototypes (int | None): K for object tokens; ``None`` = same as
            ``num_prototypes``; 0 = no object prototypes (plain DINO).
        hidden_channels (int): 2048. bottleneck_channels (int): 256 (= p of the vMF normaliser).
        num_layers (int): MLP layers, 3.
        norm_last_layer (bool): fix the prototype magnitudes to 1.

    Shapes: ``forward(x, kind)`` maps (N, in_channels) to logits (N, K_kind); ``kind`` is
    ``'global'`` or ``'object'``. ``forward(x, kind, temperature, shift)`` gives the scaled logits of the
    loss directly (:meth:`DINOLoss.student_logits`).
    """

    def __init__(self, in_channels: int, num_prototypes: int = 65536,
                 num_object_prototypes: Optional[int] = None, hidden_channels: int = 2048,
                 bottleneck_channels: int = 256, num_layers: int = 3, norm_last_layer: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [bottleneck_channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.bottleneck_channels = bottleneck_channels
        if num_object_prototypes is None:
            num_object_prototypes = num_prototypes
        self.prototypes = nn.ModuleDict(
            {'global': PrototypeLayer(bottleneck_channels, num_prototypes, norm_last_layer)})
        if num_object_prototypes > 0:
            self.prototypes['object'] = PrototypeLayer(bottleneck_channels, num_object_prototypes,
                                                       norm_last_layer)

    def prototype_parameters(self) -> List[nn.Parameter]:
        """The parameters of every prototype layer (DINO's ``last_layer``), which are kept fixed during
        the "freeze last layer epochs" (:class:`~s3pt_mm.engine.hooks.FreezePrototypesHook`)."""
        return [p for layer in self.prototypes.values() for p in layer.parameters()]

    def embed(self, x: Tensor) -> Tensor:
        """(N, in_channels) -> (N, bottleneck) L2-normalised embeddings z."""
        return F.normalize(self.mlp(x), dim=-1)

    def forward(self, x: Tensor, kind: str = 'global', temperature: float = 1.0,
                shift: Optional[Tensor] = None) -> Tensor:
        """(N, in_channels) -> (N, K_kind) logits ``<W_k, z> / temperature + shift_k``
        (:meth:`PrototypeLayer.forward`)."""
        return self.prototypes[kind](self.embed(x), temperature, shift)

    def prototype_norms(self, kind: str = 'global') -> Tensor:
        """(K,) ||W_k|| of the ``kind`` prototypes (differentiable)."""
        return self.prototypes[kind].norms()
