"""Dataset converters behind ``tools/create_data.py`` (no OpenMMLab model imports)."""
from .nuscenes_pretrain import ConversionError, create_pretrain_infos

__all__ = ['create_pretrain_infos', 'ConversionError']
