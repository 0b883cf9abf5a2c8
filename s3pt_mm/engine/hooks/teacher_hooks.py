"""Hooks that carry the schedules of DINO / CrIBo / S3PT (paper Tables 5-7) into mmengine.

* :class:`TeacherEMAHook` - teacher = EMA of the student, momentum cosine 0.996 -> 1.0.
* :class:`TeacherTempWarmupHook` - teacher temperature warm-up 0.04 -> 0.07 (linear, per epoch).
* :class:`FreezePrototypesHook` - no update of the prototype ("last") layers for the first epoch(s).
* :class:`ModelEpochHook` - tells the model the current epoch (start of the cross-image term L^o_ci).

Every epoch-dependent schedule uses one notion of the current epoch, :func:`current_epoch`
(``runner.iter // len(train_dataloader)``), so the hooks behave the same under epoch- and
iteration-based training loops, and after a resume (it is a function of the iteration only). The model must provide the methods used below
(:class:`s3pt_mm.models.S3PT` does); a DDP wrapper is looked through.

Unlike mmpretrain's ``CosineEMA`` (whose ``momentum`` is DINO's ``1 - m`` and which reads max_iters
from the MessageHub), ``momentum`` here is DINO's: the weight of the *teacher* in
``teacher <- m * teacher + (1 - m) * student``.
"""
import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def current_epoch(runner) -> int:
    """Epoch index of the running iteration (works for epoch- and iteration-based loops)."""
    return runner.iter // max(len(runner.train_dataloader), 1)


def cosine_momentum(iteration: int, max_iters: int, base: float, final: float) -> float:
    """DINO's cosine schedule: ``final - (final - base) * (1 + cos(pi * i / max_iters)) / 2``."""
    progress = min(iteration / max(max_iters, 1), 1.0)
    return final - (final - base) * (1 + math.cos(math.pi * progress)) / 2


def linear_warmup(epoch: int, warmup_epochs: int, start: float, end: float) -> float:
    """DINO's ``np.linspace(start, end, warmup_epochs)[epoch]`` then ``end``."""
    if epoch >= warmup_epochs or warmup_epochs <= 1:
        return end
    return start + (end - start) * epoch / (warmup_epochs - 1)


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """Update the teacher after every optimizer step with a cosine momentum schedule.

    Args:
        momentum (float): m at the first iteration (0.996).
        end_momentum (float): m at the last iteration (1.0).
    """
    priority = 'NORMAL'

    def __init__(self, momentum: float = 0.996, end_momentum: float = 1.0):
        if not 0.0 <= momentum <= end_momentum <= 1.0:
            raise ValueError(f'need 0 <= momentum <= end_momentum <= 1, got {momentum}, {end_momentum}')
        self.momentum = momentum
        self.end_momentum = end_momentum

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        m = cosine_momentum(runner.iter, runner.max_iters, self.momentum, self.end_momentum)
        _unwrap(runner.model).update_teacher(m)
        runner.message_hub.update_scalar('train/teacher_momentum', m)


@HOOKS.register_module()
class TeacherTempWarmupHook(Hook):
    """Linear warm-up of the teacher temperature of every semantic-clustering loss of the model.

    Args:
        start (float): 0.04. end (float): 0.07. warmup_epochs (int): 30 (ViT-S) / 50 (ViT-B).
    """
    priority = 'NORMAL'

    def __init__(self, start: float = 0.04, end: float = 0.07, warmup_epochs: int = 30):
        self.start, self.end, self.warmup_epochs = start, end, warmup_epochs

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        temp = linear_warmup(current_epoch(runner), self.warmup_epochs, self.start, self.end)
        _unwrap(runner.model).set_teacher_temperature(temp)
        runner.message_hub.update_scalar('train/teacher_temp', temp)


@HOOKS.register_module()
class FreezePrototypesHook(Hook):
    """Keep the prototype layers fixed during the first ``freeze_epochs`` epochs (DINO's
    ``cancel_gradients_last_layer``: their gradients are dropped after the backward pass, so AdamW neither
    moves, decays nor updates the moments of them).

    The prototypes still take part in the forward pass (DDP runs with ``find_unused_parameters=False``);
    the gradients are dropped by the optimizer wrapper, which must be a
    :class:`~s3pt_mm.engine.optim_wrappers.DINOOptimWrapper` or ``DINOAmpOptimWrapper``.
    """
    priority = 'NORMAL'

    def __init__(self, freeze_epochs: int = 1):
        self.freeze_epochs = freeze_epochs

    def before_train(self, runner) -> None:
        if not hasattr(runner.optim_wrapper, 'set_frozen_parameters'):
            raise TypeError(f'FreezePrototypesHook needs optim_wrapper type DINOOptimWrapper or '
                            f'DINOAmpOptimWrapper, got {type(runner.optim_wrapper).__name__}')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        frozen = current_epoch(runner) < self.freeze_epochs
        params = _unwrap(runner.model).head.prototype_parameters() if frozen else []
        runner.optim_wrapper.set_frozen_parameters(params)


@HOOKS.register_module()
class ModelEpochHook(Hook):
    """Call ``model.set_epoch(current_epoch(runner))`` before every training iteration (the S3PT
    algorithm starts its cross-image term L^o_ci at ``cross_image_start_epoch``)."""
    priority = 'NORMAL'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        _unwrap(runner.model).set_epoch(current_epoch(runner))
