"""mmpretrain's VisionTransformer initialised as DINO's and CrIBo's ViT (``vision_transformer.py`` of both).

The reference ViTs start from: every ``nn.Linear`` weight trunc-normal(std 0.02) with zero bias, every
``nn.LayerNorm`` at weight 1 / bias 0, and the [CLS] token and position embedding trunc-normal(std 0.02);
the patch-embedding convolution keeps PyTorch's default. mmpretrain's ViT starts the [CLS] token at 0 and
its FFN layers with Xavier-uniform weights and N(0, 1e-6) biases. An ``init_cfg`` cannot express the
reference rule: mmengine applies a module's ``init_cfg`` *before* its children's own ``init_weights``, and
mmpretrain's ``TransformerEncoderLayer.init_weights`` then re-initialises its FFN with Xavier. So the rule
is applied after mmpretrain's initialisation, here. The state dict is the plain ViT's: checkpoints load into
``VisionTransformer`` (downstream) unchanged.
"""
import torch.nn as nn
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS

__all__ = ['DINOVisionTransformer', 'dino_vit_init_']


def dino_vit_init_(vit: nn.Module, std: float = 0.02) -> None:
    """Re-initialise ``vit`` in place with the DINO / CrIBo rule (module docstring)."""
    for module in vit.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for name in ('cls_token', 'pos_embed'):
        token = getattr(vit, name, None)
        if token is not None:
            nn.init.trunc_normal_(token, std=std)


@MODELS.register_module()
class DINOVisionTransformer(VisionTransformer):
    """mmpretrain's ``VisionTransformer`` (same arguments) with DINO's initialisation (module docstring),
    unless ``init_cfg`` loads pre-trained weights."""

    def init_weights(self) -> None:
        super().init_weights()
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            dino_vit_init_(self)
