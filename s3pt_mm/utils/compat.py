"""Compatibility fixes for running mmengine 0.10.7 on modern PyTorch (>= 2.6).

Applied by :func:`apply_compat_patches` when an OpenMMLab-facing sub-package (``s3pt_mm.models``,
``.datasets``, ``.engine``, ``.downstream``, hence ``.seg`` and ``.det3d``) is imported and when the tools
build a runner (:mod:`s3pt_mm.utils.runner`); every fix is idempotent, scoped to the library code it
repairs, and tested in ``tests/test_utils/test_compat.py``.

Fixes
-----
1. **Checkpoint loading** (torch >= 2.6). ``torch.load`` defaults to ``weights_only=True`` since
   torch 2.6. mmengine 0.10.7 was written for the old default: every loader of
   :class:`mmengine.runner.CheckpointLoader` (local files, http, petrel/ceph, openmmlab://, ...) calls
   ``torch.load(f, map_location=...)``, and a checkpoint saved by an mmengine ``Runner`` holds the
   message hub's :class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays, which the
   weights-only unpickler rejects. ``Runner.resume`` and ``load_from`` therefore fail on mmengine's own
   checkpoints.

   The fix gives :mod:`mmengine.runner.checkpoint` (and only that module) a view of ``torch`` whose
   ``load`` defaults to ``weights_only=False``, i.e. the behaviour mmengine was written and tested
   against; an explicit ``weights_only=`` argument is still honoured. ``torch.load`` itself, and every
   other caller of it, keeps torch's safe default. The trust model is mmengine's: only load checkpoints
   you trust, exactly as with torch < 2.6.
"""
import functools
import types

import torch

__all__ = ['apply_compat_patches', 'load_trusted_checkpoint']


@functools.wraps(torch.load)
def load_trusted_checkpoint(*args, **kwargs):
    """``torch.load`` with ``weights_only=False`` unless the caller says otherwise.

    For checkpoints written by mmengine runners (they contain pickled non-tensor objects).
    """
    kwargs.setdefault('weights_only', False)
    return torch.load(*args, **kwargs)


class _TorchWithTrustedLoad(types.ModuleType):
    """A stand-in for the ``torch`` module inside one library module: ``load`` is
    :func:`load_trusted_checkpoint`, every other attribute is torch's own."""

    def __init__(self):
        super().__init__('torch')
        self.load = load_trusted_checkpoint

    def __getattr__(self, name):
        return getattr(torch, name)


def _patch_mmengine_checkpoint_loading():
    import mmengine.runner.checkpoint as mm_checkpoint

    if not isinstance(mm_checkpoint.torch, _TorchWithTrustedLoad):
        mm_checkpoint.torch = _TorchWithTrustedLoad()


def apply_compat_patches():
    """Apply all fixes of this module (idempotent)."""
    _patch_mmengine_checkpoint_loading()
