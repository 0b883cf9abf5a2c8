"""Backbone weights out of pre-training checkpoints, for downstream tasks and tools/extract_backbone.py.

A pre-training checkpoint (mmengine Runner, :class:`s3pt_mm.models.S3PT`) holds the student ViT under
``backbone.`` and the EMA teacher ViT under ``teacher.backbone.``; the teacher is what DINO, CrIBo and
S3PT evaluate. An extracted checkpoint (``tools/extract_backbone.py``) holds the plain ViT state dict.
"""
import os.path as osp

import torch

from .compat import load_checkpoint_safely
from .fileio import atomic_path

BACKBONE_PREFIXES = {'teacher': 'teacher.backbone.', 'student': 'backbone.'}


def load_backbone_state_dict(path, which='teacher'):
    """The ViT state dict (keys without prefix) of a pre-training or extracted checkpoint.

    Args:
        path (str): checkpoint file.
        which (str): ``'teacher'`` (default) or ``'student'``; ignored for an extracted checkpoint
            (``meta.s3pt_extracted`` set by tools/extract_backbone.py).

    Raises:
        FileNotFoundError: no such file.
        UntrustedCheckpointError: the file holds objects that could run code when unpickled (see
            :mod:`s3pt_mm.utils.compat` for the opt-in of a trusted file).
        KeyError: the checkpoint has no weights under the expected prefix (the message lists the
            prefix looked for and some of the keys found).
    """
    if which not in BACKBONE_PREFIXES:
        raise ValueError(f"which must be 'teacher' or 'student', got {which!r}")
    if not osp.isfile(path):
        raise FileNotFoundError(f'pre-training checkpoint not found: {path}')
    checkpoint = load_checkpoint_safely(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict):
        raise KeyError(f'{path}: not a checkpoint dict (got {type(checkpoint).__name__})')
    if isinstance(checkpoint.get('meta'), dict) and checkpoint['meta'].get('s3pt_extracted'):
        return dict(state_dict)
    prefix = BACKBONE_PREFIXES[which]
    backbone = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not backbone:
        found = ', '.join(list(state_dict)[:8]) or 'none'
        raise KeyError(f"{path}: no {which} backbone weights (no key starts with '{prefix}'); "
                       f'keys found: {found}{" ..." if len(state_dict) > 8 else ""}')
    return backbone


def save_checkpoint_atomic(obj, path):
    """``torch.save`` to a temporary file next to ``path``, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
