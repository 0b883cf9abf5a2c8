from .dino_vit import DINOVisionTransformer, dino_vit_init_

__all__ = ['DINOVisionTransformer', 'dino_vit_init_']
