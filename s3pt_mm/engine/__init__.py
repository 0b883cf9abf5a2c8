"""mmengine components of pre-training (registered in mmpretrain's registries): the teacher hooks, the
collapse monitor, the non-finite check that stops training (every DDP rank at once), the iteration seeding
that makes a resume exact and the optimizer wrappers with DINO's gradient rules."""
from ..utils.compat import apply_compat_patches
from .hooks import (BatchLoadError, CollapseMonitorHook, FreezePrototypesHook, IterationSeedHook,
                    ModelEpochHook, NonFiniteCheckHook, NonFiniteTrainingError, TeacherEMAHook,
                    TeacherTempWarmupHook)
from .optim_wrappers import DINOAmpOptimWrapper, DINOOptimWrapper, clip_grad_per_tensor_

apply_compat_patches()

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook', 'ModelEpochHook',
           'CollapseMonitorHook', 'IterationSeedHook', 'NonFiniteCheckHook', 'NonFiniteTrainingError',
           'BatchLoadError', 'DINOOptimWrapper', 'DINOAmpOptimWrapper', 'clip_grad_per_tensor_']
