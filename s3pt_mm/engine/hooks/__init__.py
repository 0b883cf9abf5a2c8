from .collapse_monitor_hook import CollapseMonitorHook
from .nonfinite_check_hook import NonFiniteCheckHook, NonFiniteTrainingError
from .teacher_hooks import FreezePrototypesHook, ModelEpochHook, TeacherEMAHook, TeacherTempWarmupHook

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook', 'ModelEpochHook',
           'CollapseMonitorHook', 'NonFiniteCheckHook', 'NonFiniteTrainingError']
