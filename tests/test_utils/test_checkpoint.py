"""Backbone weights out of pre-training checkpoints: teacher/student selection, extraction tool, errors."""
import subprocess
import sys

import pytest
import torch
from mmpretrain.registry import MODELS

from s3pt_mm.utils.checkpoint import load_backbone_state_dict
from tests.helpers import ROOT, TINY_VIT, tiny_model


@pytest.fixture(scope='module')
def pretrain_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = tiny_model('s3pt')
    with torch.no_grad():  # make teacher and student differ
        for p in model.backbone.parameters():
            p.add_(0.5)
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return path, model


def test_teacher_by_default_and_student_on_request(pretrain_ckpt):
    path, model = pretrain_ckpt
    teacher = load_backbone_state_dict(str(path))
    student = load_backbone_state_dict(str(path), which='student')
    assert teacher.keys() == model.teacher.backbone.state_dict().keys()
    for k, v in model.teacher.backbone.state_dict().items():
        torch.testing.assert_close(teacher[k], v)
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(student[k], v)
    assert not torch.equal(teacher['cls_token'], student['cls_token'])


def test_extract_tool_round_trip_into_a_vit(pretrain_ckpt, tmp_path):
    path, model = pretrain_ckpt
    out = tmp_path / 'backbone.pth'
    subprocess.run([sys.executable, str(ROOT / 'tools/extract_backbone.py'), str(path), str(out)],
                   check=True, cwd=ROOT)
    vit = MODELS.build(dict(TINY_VIT, init_cfg=dict(type='Pretrained', checkpoint=str(out))))
    vit.init_weights()
    for k, v in model.teacher.backbone.state_dict().items():
        torch.testing.assert_close(vit.state_dict()[k], v)
    # an extracted file is itself accepted by the loader, and says where it came from
    assert load_backbone_state_dict(str(out)).keys() == model.teacher.backbone.state_dict().keys()
    meta = torch.load(out, weights_only=True)['meta']
    assert meta == dict(source=str(path), which='teacher', layout='pre-training checkpoint of s3pt_mm, teacher',
                        s3pt_extracted=True)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        load_backbone_state_dict(str(tmp_path / 'missing.pth'))
    bad = tmp_path / 'classifier.pth'
    torch.save(dict(state_dict={'fc.weight': torch.zeros(2, 2)}), bad)
    with pytest.raises(KeyError, match=r"(?s)classifier\.pth: no teacher ViT .*fc\.weight.*teacher\.backbone\."):
        load_backbone_state_dict(str(bad))
    result = subprocess.run([sys.executable, str(ROOT / 'tools/extract_backbone.py'), str(bad),
                             str(tmp_path / 'o.pth')], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and 'no teacher ViT backbone of a known layout' in result.stderr
    assert 'Layouts accepted' in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'o.pth').exists()
