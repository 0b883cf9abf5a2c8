"""s3pt_mm: S3PT self-supervised pre-training for autonomous driving as an OpenMMLab plugin.

Importing ``s3pt_mm`` imports nothing else (the synthetic data generator and the converters need no
OpenMMLab package). Each stage registers its parts when its sub-package is imported (normally through
``custom_imports`` in a config): ``s3pt_mm.models`` / ``s3pt_mm.datasets`` / ``s3pt_mm.engine`` for
pre-training (mmpretrain), ``s3pt_mm.seg`` for mmsegmentation and ``s3pt_mm.det3d`` for mmdetection3d,
both on the shared ``s3pt_mm.downstream``. Each of these applies the compatibility fixes of
:mod:`s3pt_mm.utils.compat` on import. Pre-training never imports mmseg or mmdet3d, and the downstream
tasks never import the pre-training models.
"""
from .version import __version__

__all__ = ['__version__']
