"""mmengine components of pre-training (registered in mmpretrain's registries): the teacher hooks."""
from ..utils.compat import apply_compat_patches
from .hooks import FreezePrototypesHook, TeacherEMAHook, TeacherTempWarmupHook

apply_compat_patches()

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook']
