"""Dataset converters, the one home of the code behind ``tools/create_data.py`` and
``tools/dataset_converters/``:

* :mod:`.nuscenes_pretrain` - pre-training infos with dense LiDAR depth maps (``create_data.py nuscenes``);
* :mod:`.nuscenes_det3d` - mmdetection3d infos for PETR (``create_data.py nuscenes``);
* :mod:`.nuimages_seg` - nuImages semantic segmentation labels (``dataset_converters/nuimages_seg.py``);
  not imported here: its label sets come from :mod:`s3pt_mm.seg.classes`, whose package registers into
  mmseg.

The nuScenes converters need no OpenMMLab model code (``mmengine.fileio`` reads the sensor files).
"""
from .nuscenes_det3d import create_nuscenes_det3d_infos
from .nuscenes_pretrain import ConversionError, create_pretrain_infos

__all__ = ['create_pretrain_infos', 'create_nuscenes_det3d_infos', 'ConversionError']
