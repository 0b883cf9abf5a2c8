from .compat import apply_compat_patches, load_trusted_checkpoint

__all__ = ['apply_compat_patches', 'load_trusted_checkpoint']
