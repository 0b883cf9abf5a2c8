from .checkpoint import load_backbone_state_dict, save_checkpoint_atomic
from .compat import apply_compat_patches, load_trusted_checkpoint

__all__ = [
    'apply_compat_patches', 'load_trusted_checkpoint', 'load_backbone_state_dict',
    'save_checkpoint_atomic'
]
