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

Under DDP every rank stops at once with the same message (``'rank 1: non-finite ...'``), none is left
waiting in a collective (:mod:`.rank_agreement`): the loss check is agreed over the ranks (one small
all-reduce per step, before the backward), the Sinkhorn error is deferred to it (the failing rank finishes
the forward with placeholder labels, joining the forward's collectives, and stops with the others before
the backward), and a failure to load a batch on one rank (:class:`~s3pt_mm.datasets.SampleLoadError`)
stops every rank after the fetch, before the forward (a second small all-reduce per step).
"""
import os.path as osp

import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from .rank_agreement import agree_to_stop, install_agreed_batches, on_any_rank


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


_on_any_rank = on_any_rank  # its former name


def _defer_floating_point_errors(clustering, deferred: list) -> None:
    """Under DDP: the clustering's :class:`FloatingPointError` (the Sinkhorn plan check) is appended to
    ``deferred`` and the forward goes on with every token in cluster 0, so that this rank still joins the
    collectives that follow in the forward; the loss check then stops every rank."""
    forward = clustering.forward

    def deferring_forward(tokens, *args, **kwargs):
        try:
            return forward(tokens, *args, **kwargs)
        except FloatingPointError as error:
            deferred.append(str(error))
            return torch.zeros(tokens.shape[:2], dtype=torch.long, device=tokens.device)

    clustering.forward = deferring_forward


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
        distributed, deferred = get_world_size() > 1, []
        if distributed:
            from s3pt_mm.models.clustering import SinkhornSpatialClustering
            for module in model.modules():
                if isinstance(module, SinkhornSpatialClustering):
                    _defer_floating_point_errors(module, deferred)
            install_agreed_batches(runner.train_loop)

        def checked_parse_losses(losses):
            bad = nonfinite_names(losses.items())
            problem = f'non-finite loss term(s) {", ".join(bad)}' if bad else None
            if not distributed:
                if problem:
                    raise FloatingPointError(problem)
                return parse_losses(losses)
            # every rank stops here, before the backward: none waits in the gradient all-reduce
            problem = deferred[0] if deferred else problem
            agreed = agree_to_stop(problem, context=lambda: self._resume_note(runner))
            if agreed is not None:
                message, _, notes = agreed
                raise NonFiniteTrainingError(self._stop_message(runner, message, resume=notes[0]))
            return parse_losses(losses)

        def checked_train_step(data, optim_wrapper):
            deferred.clear()
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
    def _resume_note(runner):
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                return f'the last checkpoint is {f.read().strip()} (resume from it with --resume)'
        return f'no checkpoint was saved in {runner.work_dir} yet'

    @classmethod
    def _stop_message(cls, runner, problem, resume=None):
        """The message of the stop; ``resume``: the note on the last checkpoint (under DDP rank 0's, which
        saves the checkpoints: the same on every rank), read from this rank's work dir if None."""
        resume = cls._resume_note(runner) if resume is None else resume
        return (f'{problem} at iteration {runner.iter + 1} (epoch {runner.epoch + 1}); training stopped and '
                f'nothing of this iteration was saved; {resume}')
