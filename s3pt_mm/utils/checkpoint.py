"""Backbone weights out of checkpoint files, for downstream tasks and tools/extract_backbone.py.

A pre-training checkpoint of this project (mmengine Runner, :class:`s3pt_mm.models.S3PT`) holds the student
ViT under ``backbone.`` and the EMA teacher ViT under ``teacher.backbone.``; the teacher is what DINO, CrIBo
and S3PT evaluate. An extracted checkpoint (``tools/extract_backbone.py``) holds the plain ViT state dict.
The public DINO, CrIBo, timm, mmpretrain and mmseg ViT files are recognised too: the layouts and their
conversion to mmpretrain names are in :mod:`.backbone_layouts`. Nothing of a file runs when it is read
(:func:`~.compat.load_checkpoint_safely`; ``.safetensors`` files hold tensors only).
"""
import os.path as osp

import torch

from .backbone_layouts import WHICH, Backbone, find_backbone
from .compat import load_checkpoint_safely
from .fileio import atomic_path


def read_checkpoint(path):
    """The content of a checkpoint file, read without running code from it: a ``.safetensors`` file
    (timm's Hugging Face files) with safetensors, anything else with :func:`~.compat.load_checkpoint_safely`.

    Raises:
        FileNotFoundError: no such file.
        UntrustedCheckpointError: the file holds objects that could run code when unpickled (see
            :mod:`s3pt_mm.utils.compat` for the opt-in of a trusted file).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if str(path).endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(f'{path}: reading .safetensors files needs the safetensors package '
                              '(pip install safetensors)') from None
        return load_file(path, device='cpu')
    return load_checkpoint_safely(path, map_location='cpu')


def load_backbone(path, which='teacher') -> Backbone:
    """The ViT backbone of a checkpoint file in mmpretrain names, and the layout the file was found in.

    Args:
        path (str): checkpoint file (any layout of :mod:`.backbone_layouts`).
        which (str): ``'teacher'`` (default) or ``'student'``, for the two-network checkpoints
            (pre-training checkpoints of this project, DINO and CrIBo training checkpoints).

    Raises:
        FileNotFoundError, UntrustedCheckpointError: see :func:`read_checkpoint`.
        UnknownLayoutError (a KeyError): no known layout, or a ViT of another architecture (the message
            names the file, what it holds and the layouts accepted).
    """
    if which not in WHICH:
        raise ValueError(f"which must be 'teacher' or 'student', got {which!r}")
    return find_backbone(read_checkpoint(path), which, source=str(path))


def load_backbone_state_dict(path, which='teacher'):
    """The ViT state dict (mmpretrain names) of a checkpoint file: :func:`load_backbone` without the
    layout."""
    return load_backbone(path, which).state_dict


def save_checkpoint_atomic(obj, path):
    """``torch.save`` to a temporary file next to ``path``, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
