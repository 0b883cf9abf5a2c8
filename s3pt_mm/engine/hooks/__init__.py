from .teacher_hooks import FreezePrototypesHook, TeacherEMAHook, TeacherTempWarmupHook

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook']
