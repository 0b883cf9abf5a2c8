from .collapse_monitor_hook import CollapseMonitorHook
from .iteration_seed_hook import IterationSeedHook
from .nonfinite_check_hook import NonFiniteCheckHook, NonFiniteTrainingError
from .rank_agreement import BatchLoadError
from .teacher_hooks import FreezePrototypesHook, ModelEpochHook, TeacherEMAHook, TeacherTempWarmupHook

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook', 'ModelEpochHook',
           'CollapseMonitorHook', 'IterationSeedHook', 'NonFiniteCheckHook', 'NonFiniteTrainingError',
           'BatchLoadError']
