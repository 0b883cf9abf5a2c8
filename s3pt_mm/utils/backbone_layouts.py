"""Which layout a loaded checkpoint has, its ViT backbone in mmpretrain names, and that backbone in the
layout of another library: pure functions on loaded objects (no file access; :mod:`.checkpoint` reads the
files). The key names of each library are in :mod:`.vit_keys`.

Layouts recognised (the first that fits, in this order):

1. a file of ``tools/extract_backbone.py`` (``meta.s3pt_extracted``; mmpretrain names);
2. a DINO or CrIBo training checkpoint (``main_dino.py`` / ``main_cribo.py``): ``{'student': {'module.
   backbone.*', 'module.head.*'}, 'teacher': {'backbone.*', 'head.*'}, 'optimizer', 'epoch', 'args',
   'dino_loss', ...}``, DINO's names; the teacher or the student (``which``);
3. a pre-training checkpoint of this project (S3PT, DINO, CrIBo, :class:`s3pt_mm.models.S3PT`): teacher under
   ``teacher.backbone.``, student under ``backbone.``, mmpretrain names;
4. one ViT (``which`` does not apply), optionally under ``state_dict`` or ``model`` and under the prefixes
   ``module.`` and ``backbone.`` (the backbone of an mmpretrain classifier or an mmseg segmentor), named as
   timm and DINO's hub files do (``blocks.0.attn.qkv.weight``), as mmpretrain does
   (``layers.0.attn.qkv.weight``) or as mmseg does (``layers.0.attn.attn.in_proj_weight``).
"""
from dataclasses import dataclass
from typing import Mapping, Optional

from .vit_keys import mmpretrain_to_timm, mmseg_to_mmpretrain, timm_to_mmpretrain

#: the networks of a two-network (teacher-student) checkpoint
WHICH = ('teacher', 'student')

#: where the backbones of a pre-training checkpoint of this project are
S3PT_PREFIXES = {'teacher': 'teacher.backbone.', 'student': 'backbone.'}

#: the layouts accepted, as error messages list them
ACCEPTED_LAYOUTS = (
    "a pre-training checkpoint of s3pt_mm (keys 'teacher.backbone.*' and 'backbone.*')",
    'a file of tools/extract_backbone.py',
    "a DINO or CrIBo training checkpoint ('teacher' and 'student' dicts, keys 'backbone.*' / "
    "'module.backbone.*')",
    "a DINO hub backbone or timm ViT state dict (keys 'blocks.0.attn.qkv.weight', ...)",
    "an mmpretrain ViT checkpoint (keys '[backbone.]layers.0.attn.qkv.weight', ...)",
    "an mmseg ViT checkpoint (keys '[backbone.]layers.0.attn.attn.in_proj_weight', ...)",
)

#: the layouts tools/extract_backbone.py writes
EXPORT_FORMATS = ('mmpretrain', 'dino', 'timm')

#: a key that tells each single-ViT layout apart: (key, layout name, converter to mmpretrain names)
_SINGLE_VIT_LAYOUTS = (
    ('blocks.0.attn.qkv.weight', 'timm / DINO ViT', timm_to_mmpretrain),
    ('layers.0.attn.qkv.weight', 'mmpretrain ViT', None),
    ('layers.0.attn.attn.in_proj_weight', 'mmseg ViT', mmseg_to_mmpretrain),
)


class UnknownLayoutError(KeyError):
    """A checkpoint without a ViT backbone in a layout this module knows, or with a ViT of another
    architecture; the message names the file, what it holds and the layouts accepted."""

    def __str__(self):
        return str(self.args[0])


@dataclass
class Backbone:
    """A ViT backbone found in a checkpoint.

    Attributes:
        state_dict: the weights in mmpretrain names (``cls_token`` (1, 1, C), ``pos_embed`` (1, 1 + N, C),
            ``layers.{i}.*``, ``ln1.*``), the tensors of the file (not copied).
        layout: what the file is, for the log (e.g. ``'DINO / CrIBo training checkpoint, teacher'``).
        which: the network taken from a teacher-student checkpoint; None for a file of one network.
    """
    state_dict: dict
    layout: str
    which: Optional[str] = None


def find_backbone(checkpoint, which: str = 'teacher', source: str = 'checkpoint') -> Backbone:
    """The ViT backbone of a loaded checkpoint, in mmpretrain names.

    Args:
        checkpoint: what ``torch.load`` (or safetensors) returned.
        which: ``'teacher'`` or ``'student'``, for the two-network layouts (ignored by the others).
        source: the file's name, for the messages.

    Raises:
        ValueError: ``which`` is neither teacher nor student.
        UnknownLayoutError: no layout fits, or the ViT holds weights a plain ViT does not (layer scale,
            registers, ...): another architecture.
    """
    if which not in WHICH:
        raise ValueError(f"which must be 'teacher' or 'student', got {which!r}")
    if not isinstance(checkpoint, Mapping):
        raise _unknown(source, which, f'a {type(checkpoint).__name__}, not a dict of weights')
    meta = checkpoint.get('meta')
    extracted = isinstance(meta, Mapping) and meta.get('s3pt_extracted')
    if extracted and isinstance(checkpoint.get('state_dict'), Mapping):
        return Backbone(dict(checkpoint['state_dict']), 'file of tools/extract_backbone.py')
    if isinstance(checkpoint.get('teacher'), Mapping) and isinstance(checkpoint.get('student'), Mapping):
        network = _without_prefix(checkpoint[which], 'module.')
        backbone = _with_prefix(network, 'backbone.')
        layout = f'DINO / CrIBo training checkpoint, {which}'
        if not backbone:
            raise _unknown(source, which, f"a '{which}' network without 'backbone.' weights ({_keys(network)})")
        return Backbone(_converted(backbone, timm_to_mmpretrain, layout, source), layout, which)
    weights = _weights(checkpoint)
    if _with_prefix(weights, S3PT_PREFIXES['teacher']):
        backbone = _with_prefix(weights, S3PT_PREFIXES[which])
        if not backbone:
            raise _unknown(source, which, f"no {which} backbone ('{S3PT_PREFIXES[which]}*'): {_keys(weights)}")
        return Backbone(backbone, f'pre-training checkpoint of s3pt_mm, {which}', which)
    return _single_vit(weights, which, source)


def _single_vit(weights: Mapping, which: str, source: str) -> Backbone:
    """Layout 4: one ViT, possibly under ``module.`` and ``backbone.``."""
    network = _without_prefix(weights, 'module.')
    backbone = _with_prefix(network, 'backbone.')
    where = ' (under backbone.)' if backbone else ''
    backbone = backbone or network
    for key, name, convert in _SINGLE_VIT_LAYOUTS:
        if key in backbone:
            layout = f'{name} state dict{where}'
            return Backbone(_converted(backbone, convert, layout, source) if convert else backbone, layout)
    raise _unknown(source, which, _keys(weights))


def _weights(checkpoint: Mapping) -> Mapping:
    """The state dict of a checkpoint: under ``state_dict`` (mmengine, mmpretrain, mmseg) or ``model``
    (timm and DeiT training scripts), else the checkpoint itself."""
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


def _converted(backbone: Mapping, convert, layout: str, source: str) -> dict:
    renamed, unmapped = convert(backbone)
    if unmapped:
        raise UnknownLayoutError(
            f'{source}: the {layout} holds weights a plain ViT does not have, so it is another architecture '
            f'(this ViT has no layer scale, registers or extra tokens): {", ".join(unmapped[:8])}'
            f'{" ..." if len(unmapped) > 8 else ""}')
    return renamed


def _with_prefix(mapping: Mapping, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in mapping.items() if isinstance(k, str) and k.startswith(prefix)}


def _without_prefix(mapping: Mapping, prefix: str) -> dict:
    """``mapping`` with ``prefix`` removed from its keys where every key has it (a DDP wrapper's
    ``module.``), else ``mapping``."""
    stripped = _with_prefix(mapping, prefix)
    return stripped if stripped and len(stripped) == len(mapping) else dict(mapping)


def _keys(mapping: Mapping, n: int = 8) -> str:
    keys = [str(k) for k in mapping]
    entries = '1 entry' if len(keys) == 1 else f'{len(keys)} entries'
    return f'{entries}, keys {", ".join(keys[:n]) or "none"}{" ..." if len(keys) > n else ""}'


def _unknown(source: str, which: str, found: str) -> UnknownLayoutError:
    accepted = ''.join(f'\n  - {layout}' for layout in ACCEPTED_LAYOUTS)
    return UnknownLayoutError(f'{source}: no {which} ViT backbone of a known layout; it holds {found}. '
                              f'Layouts accepted:{accepted}')


def backbone_in_format(state_dict: Mapping, fmt: str, meta: dict) -> dict:
    """What ``tools/extract_backbone.py --format fmt`` writes for a backbone in mmpretrain names.

    Args:
        state_dict: the ViT in mmpretrain names (as :func:`find_backbone` returns it).
        fmt: ``'mmpretrain'``: ``{'state_dict': ..., 'meta': meta}`` (mmpretrain's ``Pretrained``
            init and this project's configs); ``'dino'`` / ``'timm'``: the plain state dict in DINO's
            (= timm's) names, which ``load_state_dict(..., strict=True)`` takes into DINO's
            ``vit_small`` / ``vit_base`` and into timm's ``vit_small_patch16_224`` /
            ``vit_base_patch16_224`` built with ``num_classes=0`` (the same file for both).
        meta: provenance, kept in the mmpretrain format only (a plain state dict has no room for it).

    Raises:
        ValueError: an unknown format, or weights that DINO's and timm's ViT do not have.
    """
    if fmt == 'mmpretrain':
        return dict(state_dict=dict(state_dict), meta=dict(meta, s3pt_extracted=True))
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f'unknown format {fmt!r}; one of {", ".join(EXPORT_FORMATS)}')
    renamed, unmapped = mmpretrain_to_timm(state_dict)
    if unmapped:
        raise ValueError(f'the backbone holds weights that the {fmt} ViT does not have: '
                         f'{", ".join(unmapped[:8])}')
    return renamed
