"""Convert PETR head weights of mmdetection3d's PETR (``projects/PETR``) into :class:`~s3pt_mm.det3d.PETRHead`'s.

Both heads compute the same function; they differ in module names, in the order of the regression code and
of the classes, and in the yaw convention of the code (``tools/convert_petr_checkpoint.py`` runs this):

=============================================================================  ==================================
mmdetection3d ``pts_bbox_head.`` ...                                           s3pt_mm ``pts_bbox_head.`` ...
=============================================================================  ==================================
``input_proj.*``, ``reference_points.weight``, ``query_embedding.{0,2}.*``     the same
``position_encoder.{0,2}.*``                                                   ``position_embedding.encoder.{0,2}.*``
``adapt_pos3d.{0,2}.*``                                                        ``adapt_pos2d.{0,2}.*``
``cls_branches.<k>.<i>.*`` (the 6 entries share one module)                    ``cls_branch.<i>.*``, last layer's
                                                                               rows in our class order
``reg_branches.<k>.<i>.*`` (shared likewise)                                   ``reg_branch.<i>.*``, last layer's
                                                                               rows in our code order (below)
``transformer.decoder.layers.<l>.attentions.0.attn.*``                         ``decoder.layers.<l>.self_attn.*``
``transformer.decoder.layers.<l>.attentions.1.attn.*``                         ``decoder.layers.<l>.cross_attn.*``
``transformer.decoder.layers.<l>.ffns.0.layers.0.0.*`` / ``.layers.1.*``        ``decoder.layers.<l>.ffn.0.*`` / ``ffn.3.*``
``transformer.decoder.layers.<l>.norms.<n>.*``                                 ``decoder.layers.<l>.norms.<n>.*``
``transformer.decoder.post_norm.*``                                            ``decoder.post_norm.*``
``code_weights``                                                               dropped (a config value here)
=============================================================================  ==================================

The port regresses ``(x, y, log l, log w, z, log h, sin r, cos r, vx, vy)`` with ``r = -yaw - pi / 2``
(its ``normalize_bbox``); ours is ``(x, y, z, log l, log w, log h, sin yaw, cos yaw, vx, vy)``. Since
``sin r = -cos yaw`` and ``cos r = -sin yaw``, our row ``i`` of the last regression layer is
``REG_SIGN[i] * port row REG_ROWS[i]``. Keys outside ``pts_bbox_head`` (the port's VoVNet backbone and
CPFPN neck) are left out: s3pt_mm's PETR has no neck and its own backbone. Only the port's current layout
(``PETRHead._version`` 2) is read; the original PETR repository's keys (``.self_attn.``,
``.multihead_attn.``) are what the port itself renames on loading, and are refused here by name.
"""
import re
from typing import Dict, List, Sequence, Tuple

import torch

__all__ = ['PORT_CLASSES', 'REG_ROWS', 'REG_SIGN', 'convert_port_head']

HEAD = 'pts_bbox_head.'
#: Class order of the port's nuScenes config (projects/PETR/configs/petr_vovnet_gridmask_p4_800x320.py).
PORT_CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
                'pedestrian', 'traffic_cone')
#: Our code entry i is the port's entry REG_ROWS[i] times REG_SIGN[i].
REG_ROWS = (0, 1, 4, 2, 3, 5, 7, 6, 8, 9)
REG_SIGN = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0)

_RENAMES: List[Tuple[str, str]] = [
    (r'(input_proj|reference_points|query_embedding)\.(.+)', r'\1.\2'),
    (r'position_encoder\.(.+)', r'position_embedding.encoder.\1'),
    (r'adapt_pos3d\.(.+)', r'adapt_pos2d.\1'),
    (r'cls_branches\.0\.(.+)', r'cls_branch.\1'),
    (r'reg_branches\.0\.(.+)', r'reg_branch.\1'),
    (r'transformer\.decoder\.layers\.(\d+)\.attentions\.0\.attn\.(.+)', r'decoder.layers.\1.self_attn.\2'),
    (r'transformer\.decoder\.layers\.(\d+)\.attentions\.1\.attn\.(.+)', r'decoder.layers.\1.cross_attn.\2'),
    (r'transformer\.decoder\.layers\.(\d+)\.ffns\.0\.layers\.0\.0\.(.+)', r'decoder.layers.\1.ffn.0.\2'),
    (r'transformer\.decoder\.layers\.(\d+)\.ffns\.0\.layers\.1\.(.+)', r'decoder.layers.\1.ffn.3.\2'),
    (r'transformer\.decoder\.layers\.(\d+)\.norms\.(\d+)\.(.+)', r'decoder.layers.\1.norms.\2.\3'),
    (r'transformer\.decoder\.post_norm\.(.+)', r'decoder.post_norm.\1'),
]
_SHARED_BRANCH = re.compile(r'(cls|reg)_branches\.(\d+)\.(.+)')


def _last_layer(state: Dict[str, torch.Tensor], branch: str) -> str:
    """Key prefix of the last Linear of ``branch`` (the highest module index holding a weight)."""
    indices = [int(k[len(branch) + 1:].split('.')[0]) for k in state
               if k.startswith(branch + '.') and k.endswith('.weight')]
    return f'{branch}.{max(indices)}'


def convert_port_head(port_state: Dict[str, torch.Tensor], classes: Sequence[str],
                      port_classes: Sequence[str] = PORT_CLASSES) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Our PETR head's weights (``pts_bbox_head.*``) from a state dict of mmdetection3d's PETR.

    Args:
        port_state: the port checkpoint's ``state_dict``.
        classes: our config's class names, in order (``class_names`` of the nuScenes data config).
        port_classes: the class order the port checkpoint was trained with.

    Returns:
        (converted state dict, names of the port keys left out).

    Raises:
        ValueError: a head key this conversion does not know, branches that are not shared, or class
            lists that are not the same set; each message names the key or classes.
    """
    if sorted(classes) != sorted(port_classes):
        raise ValueError(f'classes {list(classes)} are not the port checkpoint\'s {list(port_classes)}')
    converted, dropped = {}, []
    for key, value in port_state.items():
        if not key.startswith(HEAD) or key == HEAD + 'code_weights':
            dropped.append(key)
            continue
        name = key[len(HEAD):]
        shared = _SHARED_BRANCH.fullmatch(name)
        if shared and shared.group(2) != '0':
            first = port_state[f'{HEAD}{shared.group(1)}_branches.0.{shared.group(3)}']
            if not torch.equal(first, value):
                raise ValueError(f'{key} differs from {shared.group(1)}_branches.0: the port shares one branch '
                                 f'across decoder layers, and so does this head')
            continue
        for pattern, replacement in _RENAMES:
            if re.fullmatch(pattern, name):
                converted[HEAD + re.sub(pattern, replacement, name)] = value.clone()
                break
        else:
            raise ValueError(f'{key}: not a key of mmdetection3d\'s PETR head (layout version 2)')

    cls_last = _last_layer(converted, HEAD + 'cls_branch')
    class_rows = torch.tensor([list(port_classes).index(name) for name in classes])
    reg_last = _last_layer(converted, HEAD + 'reg_branch')
    rows, sign = torch.tensor(REG_ROWS), torch.tensor(REG_SIGN)
    for suffix in ('.weight', '.bias'):
        converted[cls_last + suffix] = converted[cls_last + suffix][class_rows]
        reg = converted[reg_last + suffix][rows]
        converted[reg_last + suffix] = reg * sign.to(reg.dtype).view(-1, *([1] * (reg.dim() - 1)))
    return converted, dropped
