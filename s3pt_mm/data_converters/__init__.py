"""Dataset converters behind ``tools/create_data.py`` (no OpenMMLab model imports): pre-training infos
with dense depth maps (:mod:`.nuscenes_pretrain`) and mmdetection3d infos for PETR (:mod:`.nuscenes_det3d`)."""
from .nuscenes_det3d import create_nuscenes_det3d_infos
from .nuscenes_pretrain import ConversionError, create_pretrain_infos

__all__ = ['create_pretrain_infos', 'create_nuscenes_det3d_infos', 'ConversionError']
