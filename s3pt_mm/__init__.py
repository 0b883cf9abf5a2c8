"""s3pt_mm: S3PT self-supervised pre-training for autonomous driving as an OpenMMLab plugin.

Importing ``s3pt_mm`` applies the compatibility fixes of :mod:`s3pt_mm.utils.compat` and nothing else;
each stage registers its parts when its sub-package is imported (normally through ``custom_imports`` in
a config): ``s3pt_mm.models`` / ``s3pt_mm.datasets`` / ``s3pt_mm.engine`` for pre-training (mmpretrain),
``s3pt_mm.seg`` for mmsegmentation and ``s3pt_mm.det3d`` for mmdetection3d. Pre-training never imports
mmseg or mmdet3d.
"""
from .utils.compat import apply_compat_patches
from .version import __version__

apply_compat_patches()

__all__ = ['__version__']
