"""Compatibility fixes for running mmengine 0.10.7 on modern PyTorch (>= 2.6), and how checkpoints load.

Applied by :func:`apply_compat_patches` when an OpenMMLab-facing sub-package (``s3pt_mm.models``,
``.datasets``, ``.engine``, ``.downstream``, hence ``.seg`` and ``.det3d``) is imported and when the tools
build a runner (:mod:`s3pt_mm.utils.runner`); every fix is idempotent, scoped to the library code it
repairs, and tested in ``tests/test_utils/test_compat.py``.

Fixes
-----
1. **Checkpoint loading without code execution** (torch >= 2.6). Unpickling a checkpoint can call any
   function named in the file; ``torch.load(weights_only=True)`` (torch's default since 2.6) refuses
   everything but tensors, containers and python scalars. mmengine 0.10.7 was written for the old
   default, and a checkpoint saved by an mmengine ``Runner`` also holds the message hub's
   :class:`~mmengine.logging.HistoryBuffer` objects with numpy arrays inside, so ``Runner.resume`` and
   ``load_from`` fail on mmengine's own checkpoints; its http loader (``torch.hub``) still unpickles
   everything.

   The fix keeps ``weights_only=True`` and allows exactly the types a Runner checkpoint holds besides
   those (:func:`runner_checkpoint_globals`) and the ``argparse.Namespace`` of plain attributes that DINO
   and CrIBo store as ``args`` in their training checkpoints (:func:`allowed_checkpoint_globals`), for
   every loader of
   :class:`mmengine.runner.CheckpointLoader` (local files, http, petrel/ceph, openmmlab://, ...) and for
   the loaders of s3pt_mm (:func:`load_checkpoint_safely`). Any other object is refused before anything
   of the file runs, with an :class:`UntrustedCheckpointError` naming the file, the refused types and
   the opt-in below.

   Opt-in for a local file you trust that holds other objects (e.g. a checkpoint of older training
   code): list it in the environment variable ``S3PT_TRUSTED_CHECKPOINTS`` (paths separated by
   ``os.pathsep``; every loader above, hence every tool and config, then unpickles it fully), or call
   :func:`load_trusted_checkpoint` in Python. Nothing is trusted by default.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import types

import torch

__all__ = [
    'TRUSTED_CHECKPOINTS_ENV', 'UntrustedCheckpointError', 'allowed_checkpoint_globals', 'apply_compat_patches',
    'is_trusted_checkpoint', 'load_checkpoint_safely', 'load_trusted_checkpoint', 'runner_checkpoint_globals'
]

TRUSTED_CHECKPOINTS_ENV = 'S3PT_TRUSTED_CHECKPOINTS'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the allow-list; it was refused and nothing of it ran."""


#: the statistics methods every HistoryBuffer holds (mmengine's ``HistoryBuffer._set_default_statistics``)
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(cls, name):
    """Stands in for ``getattr`` when unpickling: a HistoryBuffer pickles its statistics methods as
    ``getattr(HistoryBuffer, name)``; nothing else is looked up."""
    from mmengine.logging import HistoryBuffer
    if cls is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'Unsupported global: getattr({getattr(cls, "__qualname__", cls)!r}, {name!r}) '
                                 'is not a statistics method of mmengine.logging.HistoryBuffer')


def runner_checkpoint_globals():
    """What the checkpoints of an mmengine Runner contain besides tensors, containers and python scalars:
    the message hub's history buffers (with their statistics methods, looked up by ``getattr``, which is
    restricted to them) and the numpy arrays and scalars (float64, int64) they log."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_statistic, 'builtins.getattr'), np.core.multiarray._reconstruct,
            np.core.multiarray.scalar, np.ndarray, np.dtype, type(np.dtype(np.float64)), type(np.dtype(np.int64))]


def allowed_checkpoint_globals():
    """Everything the safe loaders allow besides tensors, containers and python scalars: what Runner
    checkpoints hold (:func:`runner_checkpoint_globals`) and ``argparse.Namespace``, the ``args`` of DINO's
    and CrIBo's training checkpoints. The weights-only unpickler creates a Namespace without calling any
    of its methods (``__new__``, then its ``__dict__`` updated with the stored attributes), and each
    attribute value passes the same allow-list, so a Namespace holding anything else is refused."""
    return runner_checkpoint_globals() + [argparse.Namespace]


def is_trusted_checkpoint(filename):
    """Whether ``filename`` is a local file listed in ``S3PT_TRUSTED_CHECKPOINTS``."""
    listed = os.environ.get(TRUSTED_CHECKPOINTS_ENV, '')
    if not listed or not isinstance(filename, (str, os.PathLike)) or not osp.isfile(filename):
        return False
    target = osp.realpath(filename)
    return any(path and osp.realpath(osp.expanduser(path)) == target for path in listed.split(os.pathsep))


def load_trusted_checkpoint(path, map_location=None):
    """Unpickle a checkpoint fully (``weights_only=False``): it may run code stored in the file, so only
    for a file you trust (the explicit opt-in of this module)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def _refused_types(source, error):
    """The refused globals of a local checkpoint (static scan), else the one named by torch's error, else
    the detail of that error."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(source)
    except (OSError, RuntimeError, TypeError, ValueError):
        names = re.findall(r'GLOBAL (\S+) was not an allowed global', str(error))
    if names:
        return 'the type(s) ' + ', '.join(sorted(names))
    detail = (str(error).partition('WeightsUnpickler error:')[2] or str(error)).strip().split('\n', 1)[0]
    return f'what the weights-only unpickler rejects ({detail})'


def _weights_only(source, load):
    """Run ``load()`` (a weights-only ``torch.load``) with :func:`allowed_checkpoint_globals`; a refusal
    becomes an :class:`UntrustedCheckpointError` that names ``source``, what was refused and the opt-in."""
    with torch.serialization.safe_globals(allowed_checkpoint_globals()):
        try:
            return load()
        except pickle.UnpicklingError as error:
            raise UntrustedCheckpointError(
                f'{source}: refused to load this checkpoint: it holds {_refused_types(source, error)}, which '
                'mmengine / s3pt_mm checkpoints do not contain, and unpickling it could run code stored in '
                'the file (nothing of it was run). If you trust this file, opt in explicitly: list it in '
                f'{TRUSTED_CHECKPOINTS_ENV} (tools and configs) or load it with '
                's3pt_mm.utils.compat.load_trusted_checkpoint (Python); see docs/checkpoints.md.') from None


def load_checkpoint_safely(path, map_location=None):
    """``torch.load`` of a checkpoint file without running code from it: tensors, containers, python
    scalars and :func:`allowed_checkpoint_globals` only, unless the file is listed in
    ``S3PT_TRUSTED_CHECKPOINTS``.

    Raises:
        UntrustedCheckpointError: the file holds another object.
    """
    if is_trusted_checkpoint(path):
        return load_trusted_checkpoint(path, map_location)
    return _weights_only(path, lambda: torch.load(path, map_location=map_location, weights_only=True))


class _TorchWithWeightsOnlyLoad(types.ModuleType):
    """A stand-in for the ``torch`` module inside one library module: ``load`` is weights-only whatever
    torch's default, every other attribute is torch's own."""

    def __init__(self):
        super().__init__('torch')

    @staticmethod
    def load(f, map_location=None):
        return torch.load(f, map_location=map_location, weights_only=True)

    def __getattr__(self, name):
        return getattr(torch, name)


def _weights_only_load_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                           file_name=None):
    """mmengine's ``load_url`` (the http loader), weights-only (``torch.hub`` unpickles fully by default)."""
    return torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location,
                                              progress=progress, check_hash=check_hash,
                                              file_name=file_name, weights_only=True)


def _patch_mmengine_checkpoint_loading():
    import mmengine.runner.checkpoint as mm_checkpoint

    loader = mm_checkpoint.CheckpointLoader
    if isinstance(mm_checkpoint.torch, _TorchWithWeightsOnlyLoad):
        return
    mm_checkpoint.torch = _TorchWithWeightsOnlyLoad()
    mm_checkpoint.load_url = _weights_only_load_url
    scheme_load = loader.load_checkpoint.__func__

    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        if is_trusted_checkpoint(filename):
            return load_trusted_checkpoint(filename, map_location)
        return _weights_only(filename, lambda: scheme_load(cls, filename, map_location, logger))

    load_checkpoint.__doc__ = scheme_load.__doc__
    loader.load_checkpoint = classmethod(load_checkpoint)


def apply_compat_patches():
    """Apply all fixes of this module (idempotent)."""
    _patch_mmengine_checkpoint_loading()
