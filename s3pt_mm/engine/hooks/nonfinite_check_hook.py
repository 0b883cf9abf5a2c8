"""Stop training at the first NaN/Inf instead of training on garbage.

:class:`NonFiniteCheckHook` checks, at every training iteration,

* every loss term the model returns (``loss_global``, ``loss_object_cv``, ``loss_object_ci``, ...), before
  the optimizer step: a non-finite term never reaches the weights;
* every floating-point buffer of the model after the iteration (the loss centres
  ``global_loss.center`` / ``object_loss.center``, ...), except the large buffers that their module checks
  as it writes them (listed in its ``nonfinite_checked_on_write``; the object queue's gigabytes of
  features and keys), whose module keeps the result in a small buffer that is checked instead
  (``queue.write_status``);
* errors raised as :class:`FloatingPointError` inside the training step, such as the check of the
  Sinkhorn transport plan of the spatial clustering
  (:func:`s3pt_mm.models.utils.spatial_clustering.spatial_clustering`).

and stops with a :class:`NonFiniteTrainingError` naming what is not finite, the iteration, and the last
checkpoint of the work dir to resume from. No checkpoint is written for the failed iteration.
"""
import os.path as osp

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


class NonFiniteTrainingError(FloatingPointError):
    """Training met a NaN/Inf; the message names the quantity, the iteration and the checkpoint."""


def nonfinite_names(named_tensors):
    """Names of the tensors (or lists of tensors) among ``(name, value)`` pairs that hold a NaN/Inf, with
    one device synchronisation for all of them; other values are left to their consumer."""
    named = [(name, [v for v in (value if isinstance(value, (list, tuple)) else [value])
                     if isinstance(v, torch.Tensor)]) for name, value in named_tensors]
    named = [(name, values) for name, values in named if values]
    if not named:
        return []
    flags = [torch.stack([torch.isfinite(v.detach()).all() for v in values]).all() for _, values in named]
    finite = torch.stack([flag.to(flags[0].device) for flag in flags]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


def checked_buffers(model):
    """``(name, buffer)`` of the model's floating-point buffers that the hook scans: all but those a module
    names in its ``nonfinite_checked_on_write`` (it checks what it writes into them itself)."""
    skipped = {f'{prefix}.{name}' if prefix else name for prefix, module in model.named_modules()
               for name in getattr(module, 'nonfinite_checked_on_write', ())}
    return [(name, buffer) for name, buffer in model.named_buffers()
            if buffer.is_floating_point() and name not in skipped]


def _on_any_rank(flag: bool) -> bool:
    """``flag`` or-ed over the DDP ranks (one small all-reduce when distributed)."""
    if get_world_size() == 1:
        return flag
    value = torch.tensor(float(flag))
    all_reduce(value, op='max')
    return bool(value.item() > 0)


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the iteration where a loss term, a model buffer or the Sinkhorn transport plan
    becomes non-finite (NaN/Inf), with a message naming it, the iteration and the last checkpoint.

    Runs before the other hooks of an iteration (``priority='VERY_HIGH'``), so the teacher EMA and the
    checkpoint hook never see the failed iteration.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner):
        """Install the checks of the training step: loss terms before the optimizer step, and the error
        context of :class:`FloatingPointError` raised inside the step."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(runner.model.train_step, 'nonfinite_checked', False):
            return
        parse_losses, train_step = model.parse_losses, runner.model.train_step

        def checked_parse_losses(losses):
            bad = nonfinite_names(losses.items())
            if _on_any_rank(bool(bad)):  # every rank stops, none waits in the gradient all-reduce
                raise FloatingPointError(f'non-finite loss term(s) {", ".join(bad)}' if bad else
                                         'a non-finite loss term on another DDP rank')
            return parse_losses(losses)

        def checked_train_step(data, optim_wrapper):
            try:
                return train_step(data, optim_wrapper)
            except NonFiniteTrainingError:
                raise
            except FloatingPointError as error:
                raise NonFiniteTrainingError(self._stop_message(runner, str(error))) from error

        checked_train_step.nonfinite_checked = True
        model.parse_losses = checked_parse_losses
        runner.model.train_step = checked_train_step

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad = nonfinite_names(checked_buffers(model))
        if bad:
            raise NonFiniteTrainingError(
                self._stop_message(runner, f'non-finite value(s) in the model buffer(s) {", ".join(bad)}'))

    @staticmethod
    def _stop_message(runner, problem):
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                resume = f'the last checkpoint is {f.read().strip()} (resume from it with --resume)'
        else:
            resume = f'no checkpoint was saved in {runner.work_dir} yet'
        return (f'{problem} at iteration {runner.iter + 1} (epoch {runner.epoch + 1}); training stopped and '
                f'nothing of this iteration was saved; {resume}')
