from .dino_head import DINOProjectionHead, PrototypeLayer

__all__ = ['DINOProjectionHead', 'PrototypeLayer']
