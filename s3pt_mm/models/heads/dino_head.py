"""DINO projection head with separate prototype layers for [CLS] and object tokens (CrIBo).

    z = normalize(MLP(x))            MLP: Linear-GELU-Linear-GELU-Linear, hidden 2048, bottleneck 256
    logits_k = <W_k, z>              W_k = g_k * v_k / ||v_k||   (K prototypes, weight-normalised)

With ``norm_last_layer=True`` the magnitudes g_k are fixed to 1 (DINO's default for ViT-B); with
``False`` they are learnt, which the vMF-normalised formulation of S3PT (paper Eq. 2) needs: there
||W_k|| = |g_k| sets the concentration kappa_k = ||W_k|| / tau of prototype k.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor


class PrototypeLayer(nn.Module):
    """K weight-normalised prototypes W_k = g_k v_k / ||v_k|| (no bias).

    Args:
        in_dim (int): bottleneck dimension p.
        num_prototypes (int): K.
        norm_last_layer (bool): fix g_k = 1 (unit prototypes).
    """

    def __init__(self, in_dim: int, num_prototypes: int, norm_last_layer: bool = True):
        super().__init__()
        self.direction = nn.Parameter(torch.empty(num_prototypes, in_dim))
        nn.init.trunc_normal_(self.direction, std=0.02)
        self.magnitude = nn.Parameter(torch.ones(num_prototypes), requires_grad=not norm_last_layer)
        self.frozen = False

    def weight(self) -> Tensor:
        """(K, p) prototype matrix W; detached while :attr:`frozen` (no gradient, so the optimizer
        skips it, as DINO's "freeze last layer" does)."""
        direction, magnitude = self.direction, self.magnitude
        if self.frozen:
            direction, magnitude = direction.detach(), magnitude.detach()
        return magnitude[:, None] * F.normalize(direction, dim=-1)

    def norms(self) -> Tensor:
        """(K,) ||W_k||, detached (used for the vMF normaliser, which is a function of the weights
        but, as in the reference implementation, not differentiated through)."""
        return self.magnitude.detach().abs()

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.weight().t()


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
    ``'global'`` or ``'object'``.
    """

    def __init__(self, in_channels: int, num_prototypes: int = 65536, num_object_prototypes: Optional[int] = None,
                 hidden_channels: int = 2048, bottleneck_channels: int = 256, num_layers: int = 3,
                 norm_last_layer: bool = True, init_cfg: Optional[dict] = None):
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

    def set_prototypes_frozen(self, frozen: bool) -> None:
        """Freeze/unfreeze every prototype layer (paper: "freeze last layer epochs")."""
        for layer in self.prototypes.values():
            layer.frozen = frozen

    def embed(self, x: Tensor) -> Tensor:
        """(N, in_channels) -> (N, bottleneck) L2-normalised embeddings z."""
        return F.normalize(self.mlp(x), dim=-1)

    def forward(self, x: Tensor, kind: str = 'global') -> Tensor:
        return self.prototypes[kind](self.embed(x))

    def prototype_norms(self, kind: str = 'global') -> Tensor:
        return self.prototypes[kind].norms()
