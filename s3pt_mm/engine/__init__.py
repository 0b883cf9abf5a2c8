"""mmengine components of pre-training (registered in mmpretrain's registries)."""
from .hooks import FreezePrototypesHook, TeacherEMAHook, TeacherTempWarmupHook

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook']
