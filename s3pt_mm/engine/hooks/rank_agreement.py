"""Stop every DDP rank at once, with one message, when one rank fails.

An error raised on one rank only leaves the other ranks waiting in their next collective (NCCL waits until
its timeout, 30 minutes by default). The ranks therefore exchange, at two points of every step that every
rank reaches, whether they have a problem (:func:`agree_to_stop`, one small all-reduce; the messages are
gathered only when a rank has one), and all of them raise the same error:

* after fetching the batch (:func:`install_agreed_batches`): a data loader that fails on one rank (a
  :class:`~s3pt_mm.datasets.SampleLoadError`, a dead worker) fails on none before the exchange, and the
  ranks meet there before the forward, whose collectives (centre all-reduces, queue all-gather) a rank
  without a batch could not join;
* after the forward, before the backward's gradient all-reduce: the loss check of
  :class:`~s3pt_mm.engine.NonFiniteCheckHook`, which also carries the errors the forward deferred (the
  Sinkhorn plan check) so that the failing rank keeps joining the forward's collectives.

Not distributed, nothing here runs: the errors are raised as before.
"""
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size


def on_any_rank(flag: bool) -> bool:
    """``flag`` or-ed over the DDP ranks (one small all-reduce when distributed)."""
    if get_world_size() == 1:
        return flag
    value = torch.tensor(float(flag))
    all_reduce(value, op='max')
    return bool(value.item() > 0)


def _joined(failed: List[Tuple[int, str]]) -> str:
    """``'rank 1: <message>'``; ranks with the same message share it (``'ranks 0, 2: <message>'``)."""
    by_message = {}
    for rank, message in failed:
        by_message.setdefault(message, []).append(rank)
    return '; '.join(f'rank {ranks[0]}: {message}' if len(ranks) == 1 else
                     f'ranks {", ".join(map(str, ranks))}: {message}' for message, ranks in by_message.items())


def agree_to_stop(problem: Optional[str], kind: Optional[str] = None,
                  context: Optional[Callable[[], object]] = None) -> Optional[Tuple[str, str, list]]:
    """Whether any rank has a problem: None if none has (one all-reduce of a scalar, reached by every rank
    at the same point of the step); else ``(message, kind, contexts)``, the same on every rank:
    ``message`` names every failing rank with its ``problem`` (``'rank 1: ...'``), ``kind`` is the
    ``kind`` of the lowest failing rank, ``contexts`` is ``context()`` of every rank (computed only on
    this failure path, like the gather of the messages)."""
    if not on_any_rank(problem is not None):
        return None
    gathered = all_gather_object((problem, kind, context() if context is not None else None))
    failed = [(rank, message, kind) for rank, (message, kind, _) in enumerate(gathered) if message is not None]
    return (_joined([(rank, message) for rank, message, _ in failed]), failed[0][2],
            [extra for _, _, extra in gathered])


class BatchLoadError(RuntimeError):
    """A rank could not load its training batch (any error but a
    :class:`~s3pt_mm.datasets.SampleLoadError`, which is raised as itself); raised on every rank."""


def _batch_error(kind: str, message: str) -> Exception:
    from s3pt_mm.datasets import SampleLoadError
    return (SampleLoadError if kind == 'SampleLoadError' else BatchLoadError)(message)


class AgreedBatches:
    """An iterator over the training batches after which the ranks agree that each got its batch (the
    ranks fetch in step: the samplers give every rank the same number of batches); if a fetch raised on
    any rank, every rank raises the same :class:`~s3pt_mm.datasets.SampleLoadError` or
    :class:`BatchLoadError` naming the rank(s) and the cause."""

    def __init__(self, iterator):
        self.iterator = iterator

    def __iter__(self):
        return self

    def __next__(self):
        error = problem = kind = batch = None
        try:
            batch = next(self.iterator)
        except StopIteration:  # the end of an epoch, on every rank at once
            raise
        except Exception as raised:  # noqa: B902 (every failure of a fetch is agreed on)
            error, kind = raised, type(raised).__name__
            problem = str(raised) if kind == 'SampleLoadError' else f'{kind}: {raised}'
        agreed = agree_to_stop(problem, kind)
        if agreed is not None:
            message, kind, _ = agreed
            raise _batch_error(kind, message) from error
        return batch


class AgreedLoader:
    """A data loader whose iterators are :class:`AgreedBatches`; everything else (``len``, ``sampler``,
    ``dataset``, ...) is the wrapped loader's."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        return AgreedBatches(iter(self.loader))

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def install_agreed_batches(loop) -> None:
    """Make the batches of mmengine's training loop agreed (:class:`AgreedBatches`): the iterator of an
    ``IterBasedTrainLoop`` (``loop.dataloader_iterator``), the loader an ``EpochBasedTrainLoop`` iterates
    every epoch (``loop.dataloader``). Installs once."""
    if hasattr(loop, 'dataloader_iterator'):
        if not isinstance(loop.dataloader_iterator, AgreedBatches):
            loop.dataloader_iterator = AgreedBatches(loop.dataloader_iterator)
    elif not isinstance(loop.dataloader, AgreedLoader):
        loop.dataloader = AgreedLoader(loop.dataloader)
