"""mmengine components of pre-training (registered in mmpretrain's registries): the teacher hooks, the
collapse monitor, the non-finite check that stops training, the iteration seeding that makes a resume
exact and the optimizer wrappers with DINO's gradient rules."""
from ..utils.compat import apply_compat_patches
from .hooks import (CollapseMonitorHook, FreezePrototypesHook, IterationSeedHook, ModelEpochHook,
                    NonFiniteCheckHook, NonFiniteTrainingError, TeacherEMAHook, TeacherTempWarmupHook)
from .optim_wrappers import DINOAmpOptimWrapper, DINOOptimWrapper, clip_grad_per_tensor_

apply_compat_patches()

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook', 'ModelEpochHook',
           'CollapseMonitorHook', 'IterationSeedHook', 'NonFiniteCheckHook', 'NonFiniteTrainingError',
           'DINOOptimWrapper', 'DINOAmpOptimWrapper', 'clip_grad_per_tensor_']
