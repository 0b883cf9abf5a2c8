"""Any ViT checkpoint into FrozenPretrainedViT, checked against the reference code: timm's ViT-S/16 and
ViT-B/16 (timm, a test dependency), DINO's ViT (restated in ``_dino_vit_restated.py``: DINO is not a
package), mmseg's and mmpretrain's ViT. Each is built with random weights, every LayerNorm and bias
perturbed away from its initial value so that a wrong key mapping (two norms swapped, the final norm
left out) changes the output, and our frozen ViT must give the same patch tokens after the final norm.

What differs between the implementations (read in their sources) and what it means here:

* LayerNorm eps: 1e-6 in all four as used here: timm's ViT (``partial(nn.LayerNorm, eps=1e-6)``),
  DINO's ``vit_small`` / ``vit_base`` (the same), mmpretrain's ``VisionTransformer`` (``norm_cfg=dict(
  type='LN', eps=1e-6)``, passed to every layer). mmseg's ``VisionTransformer`` defaults to
  ``norm_cfg=dict(type='LN')``, eps 1e-5; its Segmenter configs set 1e-6, as the mmseg test does. The
  eps values are asserted below.
* Attention: timm and mmpretrain call ``F.scaled_dot_product_attention``, DINO computes the softmax
  explicitly, mmseg uses ``nn.MultiheadAttention`` (q, k, v stacked in the same order in all of them):
  the same function, summed in another order.
* Patch projection: mmseg's ViT has no bias by default (``patch_bias=False``, as in its Segmenter
  configs); it loads with a zero bias, which computes the same.
* Position embeddings of another grid are interpolated differently (DINO bicubic with a 0.1 offset in
  the scale factor, timm and mmpretrain bicubic to the size); the comparisons use the 224 x 224
  pre-training grid, where none is interpolated.

Tolerance: float32 throughout; the tokens after the final norm reach ~6 in magnitude; they must agree to
atol = rtol = 1e-4. Observed on CPU: identical to timm's (the same kernels), within 3e-6 of DINO's
(explicit softmax). A wrong mapping (two norms swapped) changes them by O(1), which the timm test checks.
"""
import argparse

import pytest
import timm
import torch
from mmengine.logging import MMLogger

from s3pt_mm.downstream import FrozenPretrainedViT
from s3pt_mm.utils.checkpoint import load_backbone
from tests.helpers import ROOT, run_tool
from tests.test_downstream import _dino_vit_restated as dino

TOLERANCE = dict(atol=1e-4, rtol=1e-4)

#: (timm model, DINO constructor, mmpretrain arch)
SIZES = {'vit-s16': ('vit_small_patch16_224', dino.vit_small, 'deit-small'),
         'vit-b16': ('vit_base_patch16_224', dino.vit_base, 'deit-base')}


def _perturb(model, seed):
    """Every LayerNorm weight to 1 + N(0, 0.3), every bias to N(0, 0.3), other weights + N(0, 0.02)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim == 1:
                p.copy_(noise * 0.3 + (1.0 if name.endswith('weight') else 0.0))
            else:
                p.add_(noise * 0.02)
    model.eval()  # mmseg's ViT.train returns None
    return model


def _timm(name, seed=0, **kwargs):
    return _perturb(timm.create_model(name, pretrained=False, **kwargs), seed)


def _frozen(path, arch, **kwargs):
    model = FrozenPretrainedViT(checkpoint=str(path), arch=arch, img_size=224, patch_size=16, **kwargs)
    model.init_weights()
    return model


def _tokens(model, images):
    """Our frozen ViT's patch tokens after the final norm as (B, N, C)."""
    (featmap, ) = model(images)
    return featmap.flatten(2).transpose(1, 2)


@pytest.fixture(scope='module')
def images():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def test_layer_norm_eps_of_the_implementations():
    """The eps the comparisons rely on (see the module docstring)."""
    from mmpretrain.models import VisionTransformer
    from mmseg.models.backbones import VisionTransformer as MMSegViT
    ours = VisionTransformer(arch='deit-small', img_size=224, patch_size=16)
    assert {m.eps for m in ours.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-6}
    reference = timm.create_model('vit_small_patch16_224', pretrained=False)
    assert {m.eps for m in reference.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-6}
    assert {m.eps for m in dino.vit_small().modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-6}
    mmseg_default = MMSegViT(embed_dims=64, num_layers=1, num_heads=2, final_norm=True)
    assert {m.eps for m in mmseg_default.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-5}


@pytest.mark.parametrize('size', list(SIZES))
def test_timm_vit_gives_the_same_patch_tokens(size, images, tmp_path):
    """A timm ViT state dict (with its classifier head, dropped) as saved by timm."""
    timm_name, _, arch = SIZES[size]
    reference = _timm(timm_name)
    path = tmp_path / f'{timm_name}.pth'
    torch.save(reference.state_dict(), path)
    ours = _frozen(path, arch)
    with torch.no_grad():
        expected = reference.forward_features(images)[:, 1:]
    torch.testing.assert_close(_tokens(ours, images), expected, **TOLERANCE)
    assert load_backbone(str(path)).layout == 'timm / DINO ViT state dict'

    swapped = dict(reference.state_dict())  # the test's power: a wrong mapping shows
    swapped['blocks.3.norm1.weight'], swapped['blocks.3.norm2.weight'] = (swapped['blocks.3.norm2.weight'],
                                                                          swapped['blocks.3.norm1.weight'])
    torch.save(swapped, path)
    assert (_tokens(_frozen(path, arch), images) - expected).abs().max() > 100 * TOLERANCE['atol']


def test_timm_safetensors_file(images, tmp_path):
    """timm's Hugging Face files are model.safetensors: read without unpickling."""
    from safetensors.torch import save_file
    reference = _timm('vit_small_patch16_224', seed=3)
    path = tmp_path / 'model.safetensors'
    save_file(reference.state_dict(), str(path))
    with torch.no_grad():
        expected = reference.forward_features(images)[:, 1:]
    torch.testing.assert_close(_tokens(_frozen(path, 'deit-small'), images), expected, **TOLERANCE)


@pytest.mark.parametrize('size', list(SIZES))
def test_dino_hub_backbone_gives_the_same_patch_tokens(size, images, tmp_path):
    """A DINO hub file (``dino_deitsmall16_pretrain.pth``, ``dino_vitbase16_pretrain.pth``): the plain state
    dict of DINO's ViT; timm's ViT without classifier takes it strictly (same structure)."""
    timm_name, build_dino, arch = SIZES[size]
    reference = _perturb(build_dino(), seed=1)
    path = tmp_path / 'dino_pretrain.pth'
    torch.save(reference.state_dict(), path)
    with torch.no_grad():
        expected = reference(images)[:, 1:]
    torch.testing.assert_close(_tokens(_frozen(path, arch), images), expected, **TOLERANCE)

    same_structure = timm.create_model(timm_name, pretrained=False, num_classes=0)
    same_structure.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(same_structure.eval().forward_features(images)[:, 1:], expected, **TOLERANCE)


def _stepped_adamw(model):
    """An AdamW that took one step: its state holds step counts and moments, as a training checkpoint's
    (zero gradients, no weight decay: the weights do not change)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return optimizer


def _dino_training_checkpoint(student, teacher, cribo):
    """What DINO's main_dino.py (and CrIBo's main_cribo.py, with its queues) saves: the student under DDP
    (``module.``), backbone and projection head in both, optimizer, epoch, args (an argparse.Namespace),
    the loss's center, the fp16 scaler."""
    head = {'head.mlp.0.weight': torch.randn(32, 384), 'head.mlp.0.bias': torch.randn(32),
            'head.last_layer.weight_g': torch.ones(64, 1), 'head.last_layer.weight_v': torch.randn(64, 32)}
    checkpoint = {
        'student': {f'module.{k}': v for k, v in dict(
            {f'backbone.{k}': v for k, v in student.state_dict().items()}, **head).items()},
        'teacher': dict({f'backbone.{k}': v for k, v in teacher.state_dict().items()}, **head),
        'optimizer': _stepped_adamw(student).state_dict(),
        'epoch': 300,
        'args': argparse.Namespace(arch='vit_small', patch_size=16, out_dim=65536, lr=0.0005,
                                   global_crops_scale=(0.25, 1.0), output_dir='.', use_fp16=True),
        'dino_loss': {'center': torch.randn(1, 64)},
        'fp16_scaler': {'scale': 65536.0, 'growth_factor': 2.0, 'backoff_factor': 0.5, 'growth_interval': 2000,
                        '_growth_tracker': 10},
    }
    if cribo:
        checkpoint.update(centroids_queue_cpu=torch.randn(2, 8 * 4, 384), cls_queue_cpu=torch.randn(2, 4, 384),
                          cpv_queue_cpu=torch.full((4, ), 8, dtype=torch.int))
    return checkpoint


@pytest.mark.parametrize('method', ['dino', 'cribo'])
def test_dino_cribo_training_checkpoint_loads_its_teacher(method, images, tmp_path):
    """The full checkpoints (``dino_deitsmall16_pretrain_full_checkpoint.pth``, CrIBo's ``vits16-coco.pth``
    etc.) load without the trust opt-in; teacher by default, student on request."""
    student, teacher = _perturb(dino.vit_small(), seed=5), _perturb(dino.vit_small(), seed=6)
    path = tmp_path / f'{method}_full_checkpoint.pth'
    torch.save(_dino_training_checkpoint(student, teacher, cribo=method == 'cribo'), path)
    with torch.no_grad():
        expected_teacher, expected_student = teacher(images)[:, 1:], student(images)[:, 1:]
    torch.testing.assert_close(_tokens(_frozen(path, 'deit-small'), images), expected_teacher, **TOLERANCE)
    torch.testing.assert_close(_tokens(_frozen(path, 'deit-small', which='student'), images), expected_student,
                               **TOLERANCE)
    assert load_backbone(str(path)).layout == 'DINO / CrIBo training checkpoint, teacher'


def test_mmseg_vit_checkpoint_gives_the_same_patch_tokens(images, tmp_path):
    """An mmseg segmentor checkpoint (backbone under ``backbone.``, heads beside it), with the ViT of
    mmseg's Segmenter configs (eps 1e-6, final norm, no patch-projection bias)."""
    from mmseg.models.backbones import VisionTransformer as MMSegViT
    reference = _perturb(MMSegViT(img_size=224, patch_size=16, embed_dims=384, num_layers=12, num_heads=6,
                                  norm_cfg=dict(type='LN', eps=1e-6), final_norm=True, with_cls_token=True,
                                  interpolate_mode='bicubic'), seed=7)
    state = {f'backbone.{k}': v for k, v in reference.state_dict().items()}
    state['decode_head.conv_seg.weight'] = torch.randn(19, 384, 1, 1)
    path = tmp_path / 'segmenter_vit-s_mask.pth'
    torch.save({'meta': {'mmseg_version': '1.2.2'}, 'state_dict': state}, path)
    with torch.no_grad():
        (expected, ) = reference(images)
    (ours, ) = _frozen(path, 'deit-small')(images)
    torch.testing.assert_close(ours, expected, **TOLERANCE)
    assert load_backbone(str(path)).layout == 'mmseg ViT state dict (under backbone.)'


def test_mmpretrain_classifier_checkpoint(images, tmp_path):
    """An mmpretrain ImageClassifier checkpoint: the ViT under ``backbone.``, loaded as it is."""
    from mmpretrain.models import VisionTransformer
    reference = _perturb(VisionTransformer(arch='deit-small', img_size=224, patch_size=16, out_type='featmap'),
                         seed=8)
    state = {f'backbone.{k}': v for k, v in reference.state_dict().items()}
    state['head.layers.head.weight'] = torch.randn(1000, 384)
    path = tmp_path / 'vit-small-p16_in1k.pth'
    torch.save({'meta': {}, 'state_dict': state}, path)
    with torch.no_grad():
        (expected, ) = reference(images)
    (ours, ) = _frozen(path, 'deit-small')(images)
    torch.testing.assert_close(ours, expected, atol=0, rtol=0)
    assert load_backbone(str(path)).layout == 'mmpretrain ViT state dict (under backbone.)'


@pytest.fixture(scope='module')
def s3pt_checkpoint_vit_s(tmp_path_factory):
    """A pre-training checkpoint of this project in its layout (teacher and student ViT-S/16)."""
    from mmpretrain.models import VisionTransformer
    nets = {which: _perturb(VisionTransformer(arch='deit-small', img_size=224, patch_size=16), seed)
            for seed, which in enumerate(('teacher', 'student'), start=10)}
    state = {f'teacher.backbone.{k}': v for k, v in nets['teacher'].state_dict().items()}
    state.update({f'backbone.{k}': v for k, v in nets['student'].state_dict().items()})
    path = tmp_path_factory.mktemp('s3pt') / 'epoch_100.pth'
    torch.save({'meta': {'epoch': 100}, 'state_dict': state}, path)
    return path


@pytest.mark.parametrize('fmt', ['timm', 'dino'])
def test_export_round_trip_into_timm_and_dino(fmt, s3pt_checkpoint_vit_s, images, tmp_path):
    """tools/extract_backbone.py --format timm|dino: the teacher loads strictly into timm's ViT (without
    classifier) and DINO's ViT and gives our tokens; the exported file loads back into our ViT."""
    out = tmp_path / f's3pt_vit-s16_{fmt}.pth'
    run_tool('tools/extract_backbone.py', str(s3pt_checkpoint_vit_s), str(out), '--format', fmt)
    expected = _tokens(_frozen(s3pt_checkpoint_vit_s, 'deit-small'), images)
    exported = torch.load(out, weights_only=True)

    reference = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0)
    reference.load_state_dict(exported, strict=True)
    dino_vit = dino.vit_small()
    dino_vit.load_state_dict(exported, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(reference.eval().forward_features(images)[:, 1:], expected, **TOLERANCE)
        torch.testing.assert_close(dino_vit.eval()(images)[:, 1:], expected, **TOLERANCE)
    torch.testing.assert_close(_tokens(_frozen(out, 'deit-small'), images), expected, atol=0, rtol=0)


def test_export_student(s3pt_checkpoint_vit_s, tmp_path):
    out = tmp_path / 'student_timm.pth'
    run_tool('tools/extract_backbone.py', str(s3pt_checkpoint_vit_s), str(out), '--format', 'timm',
             '--which', 'student')
    student = load_backbone(str(s3pt_checkpoint_vit_s), 'student').state_dict
    exported = torch.load(out, weights_only=True)
    assert torch.equal(exported['blocks.11.norm2.bias'], student['layers.11.ln2.bias'])
    assert torch.equal(exported['norm.weight'], student['ln1.weight'])


def test_the_log_names_the_layout_and_the_tensors(tmp_path, monkeypatch):
    reference = _timm('vit_small_patch16_224', seed=4)
    path = tmp_path / 'vit_small_patch16_224.pth'
    torch.save(reference.state_dict(), path)
    logged = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'log', lambda level, message: logged.append(message))
    _frozen(path, 'deit-small')
    assert any(str(path) in m and 'timm / DINO ViT state dict' in m and 'loaded 150 tensors' in m for m in logged)
    assert not any('student' in m for m in logged)
    _frozen(path, 'deit-small', which='student')  # a file of one network: loaded, with a warning
    assert any("holds one network, loaded as it is; which='student'" in m for m in logged)


def test_another_architecture_is_a_clear_error(tmp_path):
    """A timm ViT with layer scale (weights our ViT has no place for), a ViT-B file for a ViT-S config, a
    ResNet: errors naming the file, what it holds and (for an unknown layout) the layouts accepted."""
    layer_scale = tmp_path / 'vit_layer_scale.pth'
    torch.save(timm.create_model('vit_small_patch16_224', pretrained=False, init_values=1e-5).state_dict(),
               layer_scale)
    with pytest.raises(KeyError) as error:
        _frozen(layer_scale, 'deit-small')
    assert 'vit_layer_scale.pth' in str(error.value) and 'blocks.0.ls1.gamma' in str(error.value)

    base = tmp_path / 'vit_base.pth'
    torch.save(timm.create_model('vit_base_patch16_224', pretrained=False).state_dict(), base)
    with pytest.raises(RuntimeError, match=r'vit_base\.pth.*timm / DINO ViT.*does not fit this ViT'):
        _frozen(base, 'deit-small')

    resnet = tmp_path / 'resnet50.pth'
    torch.save(timm.create_model('resnet18', pretrained=False).state_dict(), resnet)
    with pytest.raises(KeyError) as error:
        _frozen(resnet, 'deit-small')
    message = str(error.value)
    assert 'resnet50.pth' in message and 'conv1.weight' in message and 'Layouts accepted' in message
    assert 'DINO or CrIBo training checkpoint' in message and 'timm ViT' in message and 'mmseg' in message


@pytest.mark.parametrize('config, key, shape', [
    ('configs/segmentation/nuimages/segmenter_vit-s16-frozen_linear_8xb1-160k_nuimages-512x512.py', 'backbone',
     (1, 384, 32, 32)),
    ('configs/detection3d/petr_vit-s16-frozen_gridmask_cyclic-20e_nus-800x320.py', 'img_backbone', (1, 384, 20, 50)),
])
def test_the_configs_take_a_dino_file_unchanged(config, key, shape, tmp_path):
    """The backbone of a Segmenter and of a PETR config, as configured, with a DINO hub file given the way
    the docs say (``--cfg-options model.<key>.checkpoint=...``): Segmenter keeps the 14 x 14 grid and
    interpolates in the forward pass, PETR resizes the position embedding to 20 x 50 once, when loading."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    reference = _perturb(dino.vit_small(), seed=9)
    path = tmp_path / 'dino_deitsmall16_pretrain.pth'
    torch.save(reference.state_dict(), path)
    cfg = Config.fromfile(str(ROOT / config))
    cfg.merge_from_dict({f'model.{key}.checkpoint': str(path)})
    backbone = MODELS.build(cfg.model[key])
    backbone.init_weights()
    (featmap, ) = backbone(torch.randn(1, 3, shape[2] * 16, shape[3] * 16))
    assert featmap.shape == shape
    assert torch.equal(backbone.state_dict()['layers.5.attn.qkv.weight'], reference.blocks[5].attn.qkv.weight)
