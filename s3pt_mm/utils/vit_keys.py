"""The names of one ViT's weights in the layouts of mmpretrain (ours), timm / DINO and mmseg: pure renaming
functions on state dicts (no file access, no torch).

All layouts hold the same tensors with the same shapes; only the names differ (C = embedding width, L = the
number of transformer layers, i < L, N = the number of patches, ``*`` = ``weight`` or ``bias``)::

    tensor                          mmpretrain (ours)         timm / DINO          mmseg
    class token (1, 1, C)           cls_token                 cls_token            cls_token
    position embedding (1, 1+N, C)  pos_embed                 pos_embed            pos_embed
    patch projection (C, 3, P, P)   patch_embed.projection.*  patch_embed.proj.*   patch_embed.projection.*
    pre-attention LayerNorm         layers.i.ln1.*            blocks.i.norm1.*     layers.i.ln1.*
    q, k, v projection (3C, C)      layers.i.attn.qkv.*       blocks.i.attn.qkv.*  layers.i.attn.attn.in_proj_*
    attention output (C, C)         layers.i.attn.proj.*      blocks.i.attn.proj.* layers.i.attn.attn.out_proj.*
    pre-MLP LayerNorm               layers.i.ln2.*            blocks.i.norm2.*     layers.i.ln2.*
    MLP in (4C, C)                  layers.i.ffn.layers.0.0.* blocks.i.mlp.fc1.*   layers.i.ffn.layers.0.0.*
    MLP out (C, 4C)                 layers.i.ffn.layers.1.*   blocks.i.mlp.fc2.*   layers.i.ffn.layers.1.*
    final LayerNorm                 ln1.*                     norm.*               ln1.*

The q, k, v rows are stacked in the same order (q, then k, then v; heads contiguous within each) in all
three, so no tensor is reshaped. DINO's ``vision_transformer.py`` is timm's ViT restated, with the same
module names; a timm classifier adds ``head.*`` (dropped when converting, see :data:`CLASSIFIER_KEYS`).
"""
import re
from typing import Dict, List, Mapping, Sequence, Tuple

#: (timm / DINO name, mmpretrain name) of every weight; ``{i}`` is a layer index, ``{p}`` weight or bias
TIMM_NAMES = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.{p}', 'patch_embed.projection.{p}'),
    ('blocks.{i}.norm1.{p}', 'layers.{i}.ln1.{p}'),
    ('blocks.{i}.attn.qkv.{p}', 'layers.{i}.attn.qkv.{p}'),
    ('blocks.{i}.attn.proj.{p}', 'layers.{i}.attn.proj.{p}'),
    ('blocks.{i}.norm2.{p}', 'layers.{i}.ln2.{p}'),
    ('blocks.{i}.mlp.fc1.{p}', 'layers.{i}.ffn.layers.0.0.{p}'),
    ('blocks.{i}.mlp.fc2.{p}', 'layers.{i}.ffn.layers.1.{p}'),
    ('norm.{p}', 'ln1.{p}'),
)

#: (mmseg name, mmpretrain name) of every weight
MMSEG_NAMES = (
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.projection.{p}', 'patch_embed.projection.{p}'),
    ('layers.{i}.ln1.{p}', 'layers.{i}.ln1.{p}'),
    ('layers.{i}.attn.attn.in_proj_{p}', 'layers.{i}.attn.qkv.{p}'),
    ('layers.{i}.attn.attn.out_proj.{p}', 'layers.{i}.attn.proj.{p}'),
    ('layers.{i}.ln2.{p}', 'layers.{i}.ln2.{p}'),
    ('layers.{i}.ffn.layers.0.0.{p}', 'layers.{i}.ffn.layers.0.0.{p}'),
    ('layers.{i}.ffn.layers.1.{p}', 'layers.{i}.ffn.layers.1.{p}'),
    ('ln1.{p}', 'ln1.{p}'),
)

#: the classification head of a timm ViT: not part of the backbone, dropped when converting
CLASSIFIER_KEYS = re.compile(r'head\.(weight|bias)')

_PLACEHOLDERS = {'i': r'(?P<i>\d+)', 'p': r'(?P<p>weight|bias)'}


def _pattern(template: str) -> 're.Pattern':
    """The regular expression of a name template: ``{i}`` matches a layer index, ``{p}`` weight or bias."""
    parts = re.split(r'\{(\w)\}', template)
    return re.compile(''.join(re.escape(part) if n % 2 == 0 else _PLACEHOLDERS[part]
                              for n, part in enumerate(parts)))


def rename_keys(state_dict: Mapping, names: Sequence[Tuple[str, str]], reverse: bool = False,
                drop: 're.Pattern' = None) -> Tuple[Dict, List[str]]:
    """Rename the keys of ``state_dict`` by a table of (from, to) name templates (to -> from if
    ``reverse``); values are passed through untouched.

    Args:
        state_dict: name -> tensor (any value).
        names: one of the tables of this module.
        reverse: map the second column to the first (e.g. mmpretrain -> timm with :data:`TIMM_NAMES`).
        drop: keys to leave out silently (e.g. :data:`CLASSIFIER_KEYS`).

    Returns:
        (renamed state dict, the keys no template matched and ``drop`` did not match, in order).
    """
    table = [(_pattern(b), a) if reverse else (_pattern(a), b) for a, b in names]
    renamed, unmapped = {}, []
    for key, value in state_dict.items():
        for pattern, target in table:
            match = pattern.fullmatch(key)
            if match:
                renamed[target.format(**match.groupdict())] = value
                break
        else:
            if drop is None or not drop.fullmatch(key):
                unmapped.append(key)
    return renamed, unmapped


def timm_to_mmpretrain(state_dict: Mapping) -> Tuple[Dict, List[str]]:
    """A timm ViT or DINO / CrIBo backbone state dict -> (mmpretrain names, keys left unmapped); a timm
    classifier head is dropped."""
    return rename_keys(state_dict, TIMM_NAMES, drop=CLASSIFIER_KEYS)


def mmseg_to_mmpretrain(state_dict: Mapping) -> Tuple[Dict, List[str]]:
    """An mmseg ``VisionTransformer`` state dict -> (mmpretrain names, keys left unmapped).

    mmseg's ViT has no patch-projection bias by default (``patch_bias=False``, what its Segmenter configs
    use); the missing bias becomes zeros of shape (C, ), which computes the same."""
    renamed, unmapped = rename_keys(state_dict, MMSEG_NAMES)
    weight = renamed.get('patch_embed.projection.weight')
    if weight is not None and 'patch_embed.projection.bias' not in renamed:
        renamed['patch_embed.projection.bias'] = weight.new_zeros(weight.shape[0])
    return renamed, unmapped


def mmpretrain_to_timm(state_dict: Mapping) -> Tuple[Dict, List[str]]:
    """An mmpretrain ``VisionTransformer`` state dict -> (timm / DINO names, keys left unmapped)."""
    return rename_keys(state_dict, TIMM_NAMES, reverse=True)
