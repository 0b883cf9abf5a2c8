"""Layout recognition and key conversion of ViT checkpoints (s3pt_mm.utils.backbone_layouts, .vit_keys), on
dicts of named placeholders: which layout is found, where the backbone is taken from, what is refused.
The conversions are checked against the reference implementations in tests/test_downstream/test_any_backbone.py."""
import argparse

import pytest

from s3pt_mm.utils.backbone_layouts import UnknownLayoutError, backbone_in_format, find_backbone
from s3pt_mm.utils.vit_keys import mmpretrain_to_timm, mmseg_to_mmpretrain, timm_to_mmpretrain

LAYERS = 2


def _mmpretrain_vit(tag=''):
    """The keys of an mmpretrain ViT with two layers; each value names its tensor (and ``tag``)."""
    keys = ['cls_token', 'pos_embed', 'patch_embed.projection.weight', 'patch_embed.projection.bias']
    for i in range(LAYERS):
        for part in ('ln1', 'attn.qkv', 'attn.proj', 'ln2', 'ffn.layers.0.0', 'ffn.layers.1'):
            keys += [f'layers.{i}.{part}.weight', f'layers.{i}.{part}.bias']
    keys += ['ln1.weight', 'ln1.bias']
    return {k: f'{tag}{k}' for k in keys}


def _timm_vit(tag=''):
    renamed, unmapped = mmpretrain_to_timm(_mmpretrain_vit(tag))
    assert not unmapped
    return renamed


def test_timm_names_and_back():
    timm = _timm_vit()
    assert {'cls_token', 'pos_embed', 'patch_embed.proj.weight', 'blocks.1.norm1.bias', 'blocks.0.attn.qkv.weight',
            'blocks.1.attn.proj.bias', 'blocks.0.norm2.weight', 'blocks.1.mlp.fc1.weight', 'blocks.0.mlp.fc2.bias',
            'norm.weight', 'norm.bias'} <= set(timm)
    assert timm['norm.weight'] == 'ln1.weight' and timm['blocks.1.norm1.weight'] == 'layers.1.ln1.weight'
    assert timm['blocks.0.mlp.fc1.bias'] == 'layers.0.ffn.layers.0.0.bias'
    back, unmapped = timm_to_mmpretrain(dict(timm, **{'head.weight': 'w', 'head.bias': 'b'}))
    assert back == _mmpretrain_vit() and not unmapped  # the classifier is dropped
    unmapped = timm_to_mmpretrain({'blocks.0.ls1.gamma': 'g', 'reg_token': 'r'})[1]
    assert unmapped == ['blocks.0.ls1.gamma', 'reg_token']


def test_mmseg_names():
    mmseg = {k.replace('attn.qkv.weight', 'attn.attn.in_proj_weight').replace('attn.qkv.bias', 'attn.attn.in_proj_bias')
             .replace('attn.proj.', 'attn.attn.out_proj.'): v for k, v in _mmpretrain_vit().items()}
    assert 'layers.1.attn.attn.in_proj_bias' in mmseg and 'layers.0.attn.attn.out_proj.weight' in mmseg
    assert mmseg_to_mmpretrain(mmseg) == (_mmpretrain_vit(), [])


@pytest.mark.parametrize('which', ['teacher', 'student'])
def test_each_layout(which):
    student, teacher = _mmpretrain_vit('s:'), _mmpretrain_vit('t:')
    expected = teacher if which == 'teacher' else student
    ours = {f'teacher.backbone.{k}': v for k, v in teacher.items()}
    ours.update({f'backbone.{k}': v for k, v in student.items()}, **{'teacher.head.w': 0, 'head.w': 0})
    found = find_backbone({'meta': {'epoch': 1}, 'state_dict': ours}, which)
    assert found.state_dict == expected and found.layout == f'pre-training checkpoint of s3pt_mm, {which}'
    assert found.which == which

    dino_full = {'student': {f'module.backbone.{k}': v for k, v in _timm_vit('s:').items()},
                 'teacher': {f'backbone.{k}': v for k, v in _timm_vit('t:').items()},
                 'optimizer': {}, 'epoch': 100, 'args': argparse.Namespace(arch='vit_small'), 'dino_loss': {}}
    dino_full['teacher']['head.last_layer.weight_g'] = dino_full['student']['module.head.mlp.0.weight'] = 0
    found = find_backbone(dino_full, which)
    assert found.state_dict == expected and found.layout == f'DINO / CrIBo training checkpoint, {which}'
    assert found.which == which

    # one network: `which` does not apply
    assert find_backbone(_timm_vit('t:'), which).state_dict == teacher
    assert find_backbone(_timm_vit('t:'), which).which is None
    timm_classifier = dict(_timm_vit('t:'), **{'head.weight': 0, 'head.bias': 0})
    assert find_backbone({'model': timm_classifier}, which).layout == 'timm / DINO ViT state dict'
    mmpretrain = {'state_dict': dict({f'backbone.{k}': v for k, v in teacher.items()}, **{'head.fc.weight': 0})}
    found = find_backbone(mmpretrain, which)
    assert found.state_dict == teacher and found.layout == 'mmpretrain ViT state dict (under backbone.)'
    ddp = {f'module.{k}': v for k, v in _timm_vit('t:').items()}
    assert find_backbone(ddp, which).state_dict == teacher
    extracted = {'state_dict': teacher, 'meta': {'s3pt_extracted': True}}
    assert find_backbone(extracted, which).layout == 'file of tools/extract_backbone.py'


def test_unknown_layouts_are_clear_errors():
    with pytest.raises(UnknownLayoutError) as error:
        find_backbone({'state_dict': {'conv1.weight': 0, 'layer1.0.bn1.weight': 0}}, source='resnet50.pth')
    message = str(error.value)
    assert message.startswith('resnet50.pth: no teacher ViT backbone of a known layout; it holds 2 entries, keys '
                              'conv1.weight, layer1.0.bn1.weight. Layouts accepted:')
    for layout in ('s3pt_mm', 'extract_backbone', 'DINO or CrIBo', 'timm ViT', 'mmpretrain', 'mmseg'):
        assert layout in message
    assert isinstance(error.value, KeyError)

    with pytest.raises(UnknownLayoutError, match=r"x\.pth: no teacher ViT .* a list, not a dict"):
        find_backbone([1, 2], source='x.pth')
    with pytest.raises(UnknownLayoutError, match=r"a 'student' network without 'backbone\.' weights"):
        find_backbone({'teacher': {'backbone.cls_token': 0}, 'student': {'module.encoder.x': 0}}, 'student')
    dinov2_like = dict(_timm_vit(), **{'blocks.0.ls1.gamma': 0, 'register_tokens': 0})
    with pytest.raises(UnknownLayoutError, match=r'another architecture.*blocks\.0\.ls1\.gamma, register_tokens'):
        find_backbone(dinov2_like, source='dinov2.pth')
    with pytest.raises(ValueError, match='which'):
        find_backbone(_timm_vit(), 'ema')


def test_export_formats():
    teacher = _mmpretrain_vit()
    assert backbone_in_format(teacher, 'dino', meta={}) == backbone_in_format(teacher, 'timm', meta={}) == _timm_vit()
    mmpretrain = backbone_in_format(teacher, 'mmpretrain', meta=dict(which='teacher'))
    assert mmpretrain == dict(state_dict=teacher, meta=dict(which='teacher', s3pt_extracted=True))
    with pytest.raises(ValueError, match='layers.0.attn.gamma1.weight'):
        backbone_in_format(dict(teacher, **{'layers.0.attn.gamma1.weight': 0}), 'timm', meta={})
    with pytest.raises(ValueError, match='unknown format'):
        backbone_in_format(teacher, 'onnx', meta={})
