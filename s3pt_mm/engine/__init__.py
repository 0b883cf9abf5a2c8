"""mmengine components (registered in mmpretrain's registries): the teacher hooks of pre-training and the
optimizer constructor of downstream training on a frozen backbone."""
from .hooks import FreezePrototypesHook, TeacherEMAHook, TeacherTempWarmupHook
from .optim_constructor import TrainableParamsOptimWrapperConstructor

__all__ = ['TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook',
           'TrainableParamsOptimWrapperConstructor']
