"""What the downstream evaluations share (paper A.2): the frozen pre-trained ViT and the optimizer wrapper
constructor that leaves frozen parameters out of the optimizer.

Registered on import in mmpretrain's registries; :mod:`s3pt_mm.seg` and :mod:`s3pt_mm.det3d` register the
same classes in mmseg's and mmdet3d's. Nothing here imports the pre-training models (:mod:`s3pt_mm.models`).
"""
from ..utils.compat import apply_compat_patches
from .frozen_vit import FrozenPretrainedViT
from .optim_constructor import TrainableParamsOptimWrapperConstructor

apply_compat_patches()

__all__ = ['FrozenPretrainedViT', 'TrainableParamsOptimWrapperConstructor']
