"""mmdetection3d PETR (projects/PETR) checkpoints load into our head, and the decoder starts as the port's.

The port-shaped state dict is written out here key by key from the port's module layout (mmcv's
``MultiheadAttention`` wraps ``nn.MultiheadAttention`` as ``.attn``; mmcv's ``FFN`` is
``layers = Sequential(Sequential(Linear, ReLU, Dropout), Linear, Dropout)``; one cls / reg branch module
shared by the 6 entries of ``cls_branches`` / ``reg_branches``), not from the converter's rules.
"""
import importlib.util
import math

import pytest
import torch

pytest.importorskip('mmdet3d')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from s3pt_mm.det3d import NMSFreeCoder  # noqa: E402
from s3pt_mm.det3d.port_checkpoint import convert_port_head  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

E, FF, Q, LAYERS, DEPTHS = 256, 64, 12, 2, 4  # the port's width 256; a small decoder
PORT_CLASSES = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
                'pedestrian', 'traffic_cone']  # projects/PETR/configs/petr_vovnet_gridmask_p4_800x320.py
OUR_CLASSES = Config.fromfile(str(ROOT / 'configs/detection3d/_base_/nuscenes_petr_800x320.py')).class_names


def port_state_dict(seed=0):
    """A randomly initialised state dict with the port's keys and shapes (``pts_bbox_head.*`` + backbone)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {
        'input_proj.weight': (E, E, 1, 1), 'input_proj.bias': (E, ),
        'position_encoder.0.weight': (4 * E, 3 * DEPTHS, 1, 1), 'position_encoder.0.bias': (4 * E, ),
        'position_encoder.2.weight': (E, 4 * E, 1, 1), 'position_encoder.2.bias': (E, ),
        'adapt_pos3d.0.weight': (4 * E, 3 * E // 2, 1, 1), 'adapt_pos3d.0.bias': (4 * E, ),
        'adapt_pos3d.2.weight': (E, 4 * E, 1, 1), 'adapt_pos3d.2.bias': (E, ),
        'reference_points.weight': (Q, 3),
        'query_embedding.0.weight': (E, 3 * E // 2), 'query_embedding.0.bias': (E, ),
        'query_embedding.2.weight': (E, E), 'query_embedding.2.bias': (E, ),
        'transformer.decoder.post_norm.weight': (E, ), 'transformer.decoder.post_norm.bias': (E, ),
    }
    for layer in range(LAYERS):
        prefix = f'transformer.decoder.layers.{layer}.'
        for attn in (0, 1):
            shapes.update({f'{prefix}attentions.{attn}.attn.in_proj_weight': (3 * E, E),
                           f'{prefix}attentions.{attn}.attn.in_proj_bias': (3 * E, ),
                           f'{prefix}attentions.{attn}.attn.out_proj.weight': (E, E),
                           f'{prefix}attentions.{attn}.attn.out_proj.bias': (E, )})
        shapes.update({f'{prefix}ffns.0.layers.0.0.weight': (FF, E), f'{prefix}ffns.0.layers.0.0.bias': (FF, ),
                       f'{prefix}ffns.0.layers.1.weight': (E, FF), f'{prefix}ffns.0.layers.1.bias': (E, )})
        for norm in range(3):
            shapes.update({f'{prefix}norms.{norm}.weight': (E, ), f'{prefix}norms.{norm}.bias': (E, )})
    # cls: Linear, LN, ReLU, Linear, LN, ReLU, Linear; reg: Linear, ReLU, Linear, ReLU, Linear
    branch = {'cls_branches': {0: (E, E), 1: (E, ), 3: (E, E), 4: (E, ), 6: (10, E)},
              'reg_branches': {0: (E, E), 2: (E, E), 4: (10, E)}}
    state = {f'pts_bbox_head.{k}': torch.randn(s, generator=g) for k, s in shapes.items()}
    for name, modules in branch.items():
        for index, shape in modules.items():
            weight, bias = torch.randn(shape, generator=g), torch.randn(shape[0], generator=g)
            for k in range(6):  # one shared module, saved under each of the 6 entries
                state[f'pts_bbox_head.{name}.{k}.{index}.weight'] = weight
                state[f'pts_bbox_head.{name}.{k}.{index}.bias'] = bias
    state['pts_bbox_head.code_weights'] = torch.tensor([1.0] * 8 + [0.2] * 2)
    state['img_backbone.stem.stem_1/conv.weight'] = torch.randn(64, 3, 3, 3, generator=g)
    state['img_neck.fpn_convs.0.conv.weight'] = torch.randn(E, E, 3, 3, generator=g)
    return state


def our_head():
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(ROOT / 'configs/detection3d/petr_vit-s16-frozen_gridmask_cyclic-20e_nus-800x320.py'))
    head = cfg.model.pts_bbox_head
    head.update(in_channels=E, num_query=Q)
    head.decoder.update(num_layers=LAYERS, feedforward_channels=FF)
    head.position_embedding.update(depth_num=DEPTHS)
    return MODELS.build(dict(head, train_cfg=cfg.model.train_cfg))


def port_code(box):
    """The port's regression code of a box [x, y, z, l, w, h, yaw, vx, vy] (its utils.normalize_bbox)."""
    x, y, z, l, w, h, yaw, vx, vy = box
    r = -yaw - math.pi / 2
    return torch.tensor([x, y, math.log(l), math.log(w), z, math.log(h), math.sin(r), math.cos(r), vx, vy])


def test_port_checkpoint_loads_strictly_and_maps_each_key():
    port = port_state_dict()
    converted, dropped = convert_port_head(port, OUR_CLASSES, PORT_CLASSES)
    head = our_head()
    head.load_state_dict({k[len('pts_bbox_head.'):]: v for k, v in converted.items()}, strict=True)
    assert sorted(dropped) == ['img_backbone.stem.stem_1/conv.weight', 'img_neck.fpn_convs.0.conv.weight',
                               'pts_bbox_head.code_weights']
    p = 'pts_bbox_head.'
    pairs = {'input_proj.weight': 'input_proj.weight',
             'position_embedding.encoder.2.weight': 'position_encoder.2.weight',
             'adapt_pos2d.0.bias': 'adapt_pos3d.0.bias',
             'reference_points.weight': 'reference_points.weight',
             'decoder.layers.1.self_attn.in_proj_weight': 'transformer.decoder.layers.1.attentions.0.attn.in_proj_weight',
             'decoder.layers.1.cross_attn.out_proj.bias': 'transformer.decoder.layers.1.attentions.1.attn.out_proj.bias',
             'decoder.layers.0.ffn.0.weight': 'transformer.decoder.layers.0.ffns.0.layers.0.0.weight',
             'decoder.layers.0.ffn.3.bias': 'transformer.decoder.layers.0.ffns.0.layers.1.bias',
             'decoder.layers.1.norms.2.weight': 'transformer.decoder.layers.1.norms.2.weight',
             'decoder.post_norm.bias': 'transformer.decoder.post_norm.bias',
             'cls_branch.3.weight': 'cls_branches.0.3.weight', 'reg_branch.2.bias': 'reg_branches.0.2.bias'}
    state = head.state_dict()
    for ours, theirs in pairs.items():
        assert torch.equal(state[ours], port[p + theirs]), ours


def test_converted_branches_give_the_ports_predictions_in_our_conventions():
    port = port_state_dict(seed=1)
    head = our_head()
    converted, _ = convert_port_head(port, OUR_CLASSES, PORT_CLASSES)
    head.load_state_dict({k[len('pts_bbox_head.'):]: v for k, v in converted.items()})
    hidden = torch.randn(5, E)
    # The port's last layers (its branches end in these Linear layers; the hidden layers are copied as is).
    cls_hidden = head.cls_branch[:-1](hidden)
    port_logits = cls_hidden @ port['pts_bbox_head.cls_branches.0.6.weight'].T + port['pts_bbox_head.cls_branches.0.6.bias']
    logits = head.cls_branch(hidden)
    for c, name in enumerate(OUR_CLASSES):
        torch.testing.assert_close(logits[:, c], port_logits[:, PORT_CLASSES.index(name)])
    # A box the port would regress as port_code(box) comes out of our branch as our code of the same box.
    box = [3.0, -4.0, 0.5, 4.2, 1.9, 1.6, 0.7, 1.5, -0.5]
    weight = port['pts_bbox_head.reg_branches.0.4.weight']
    target = port_code(box)
    # a last hidden vector for which the port's last layer outputs exactly that code
    solution = torch.linalg.lstsq(weight, (target - port['pts_bbox_head.reg_branches.0.4.bias']).unsqueeze(1)).solution
    ours = head.reg_branch[-1](solution.T)
    torch.testing.assert_close(NMSFreeCoder.decode_codes(ours)[0], torch.tensor(box), atol=1e-4, rtol=1e-4)


def test_converter_refuses_unknown_keys_and_classes(tmp_path):
    port = port_state_dict()
    with pytest.raises(ValueError, match='pts_bbox_head.transformer.decoder.layers.0.multihead_attn.x'):
        convert_port_head(dict(port, **{'pts_bbox_head.transformer.decoder.layers.0.multihead_attn.x': torch.zeros(1)}),
                          OUR_CLASSES, PORT_CLASSES)
    with pytest.raises(ValueError, match='are not the port'):
        convert_port_head(port, OUR_CLASSES[:-1] + ['tram'], PORT_CLASSES)
    unshared = dict(port, **{'pts_bbox_head.cls_branches.3.6.bias': torch.zeros(10)})
    with pytest.raises(ValueError, match='cls_branches.3.6.bias differs'):
        convert_port_head(unshared, OUR_CLASSES, PORT_CLASSES)


def test_convert_tool(tmp_path):
    spec = importlib.util.spec_from_file_location('convert_petr_checkpoint', ROOT / 'tools/convert_petr_checkpoint.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src = tmp_path / 'port.pth'
    torch.save(dict(state_dict=port_state_dict(), meta=dict()), src)
    out = tmp_path / 'ours.pth'
    tool.main([str(src), str(out)])
    converted = torch.load(out, weights_only=False)['state_dict']
    assert all(k.startswith('pts_bbox_head.') for k in converted)
    assert 'pts_bbox_head.decoder.layers.1.cross_attn.in_proj_weight' in converted
    with pytest.raises(SystemExit, match='checkpoint not found'):
        tool.main([str(tmp_path / 'none.pth'), str(out)])


def test_decoder_init_is_the_ports():
    """DETR's init as the port applies it: Xavier-uniform linear weights with zero biases (the feed-forward
    network included), LayerNorms at (1, 0)."""
    head = our_head()
    for p in head.decoder.parameters():
        p.data.fill_(0.5)
    head.decoder.init_weights()
    layer = head.decoder.layers[0]
    for linear in (layer.ffn[0], layer.ffn[3], layer.self_attn.out_proj):
        fan_out, fan_in = linear.weight.shape
        bound = math.sqrt(6.0 / (fan_in + fan_out))  # Xavier-uniform bound
        assert linear.weight.abs().max() <= bound and linear.weight.std() > bound / 4
        assert torch.equal(linear.bias, torch.zeros_like(linear.bias))
    assert torch.equal(layer.cross_attn.in_proj_bias, torch.zeros(3 * E))
    assert layer.cross_attn.in_proj_weight.abs().max() <= math.sqrt(6.0 / (E + 3 * E))
    assert torch.equal(layer.norms[1].weight, torch.ones(E)) and torch.equal(layer.norms[1].bias, torch.zeros(E))
