"""The S3PT algorithm (and DINO / CrIBo as its configurations) on a tiny ViT: loss terms, teacher EMA,
frozen prototypes, centering of each mode, and learning on a fixed batch."""
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import s3pt_mm.models  # noqa: F401
from s3pt_mm.engine.hooks.teacher_hooks import cosine_momentum, linear_warmup

from tests.helpers import IMG, PATCH, K, tiny_model


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build from mmpretrain's registry whatever default scope earlier tests left behind."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


def fake_batch(batch=2, seed=0):
    """Two views per image, with token geometry as PackMultiViewInputs provides it."""
    g = torch.Generator().manual_seed(seed)
    n = (IMG // PATCH) ** 2
    views = [torch.rand(batch, 3, IMG, IMG, generator=g) * 255 for _ in range(2)]
    samples = []
    for _ in range(batch):
        s = DataSample()
        grid = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing='xy'), -1)
        pos = (grid.reshape(n, 2) * PATCH + PATCH / 2)
        s.set_field(torch.stack([pos, pos * 0.8 + 3]), 'token_positions')
        s.set_field(torch.rand(2, n, generator=g) * 40 + 2, 'token_depths')
        valid = torch.ones(2, n, dtype=torch.bool)
        valid[:, :3] = False
        s.set_field(valid, 'token_depth_valid')
        samples.append(s)
    return dict(inputs=views, data_samples=samples)


@pytest.mark.parametrize('method,expected', [
    ('dino', {'loss_global'}),
    ('cribo', {'loss_global', 'loss_object_cv', 'loss_object_ci', 'num_objects'}),
    ('s3pt', {'loss_global', 'loss_object_cv', 'loss_object_ci', 'num_objects'}),
])
def test_loss_terms_of_each_method(method, expected):
    torch.manual_seed(0)
    model = tiny_model(method)
    data = model.data_preprocessor(fake_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == expected
    for name, value in losses.items():
        assert torch.isfinite(value), name
    # A cross-entropy over K classes is at least 0 and, for a near-uniform start, close to log K.
    assert 0 < losses['loss_global'].item() < 2 * math.log(K)
    if method != 'dino':
        assert 1 <= losses['num_objects'].item() <= model.clustering.num_clusters
        # The queue was empty: no cross-image term yet, but this step's objects were stored.
        assert losses['loss_object_ci'].item() == 0
        assert len(model.queue) > 0
        losses = model(**data, mode='loss')  # same images again: every object finds itself
        assert losses['loss_object_ci'].item() > 0


def test_teacher_starts_as_student_and_follows_the_ema_formula():
    torch.manual_seed(0)
    model = tiny_model('s3pt')
    for s, t in zip(model.backbone.parameters(), model.teacher.backbone.parameters()):
        torch.testing.assert_close(s, t)
    assert all(not p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert not model.teacher.training and model.backbone.training

    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    teacher_before = [p.clone() for p in model.teacher.backbone.parameters()]
    m = 0.9
    model.update_teacher(m)
    for s, t0, t in zip(model.backbone.parameters(), teacher_before, model.teacher.backbone.parameters()):
        torch.testing.assert_close(t, m * t0 + (1 - m) * s)


def test_frozen_prototypes_get_no_gradient():
    torch.manual_seed(0)
    model = tiny_model('cribo')
    data = model.data_preprocessor(fake_batch(), training=True)
    model.head.set_prototypes_frozen(True)
    sum(v for k, v in model(**data, mode='loss').items() if k.startswith('loss')).backward()
    for layer in model.head.prototypes.values():
        assert layer.direction.grad is None and layer.magnitude.grad is None
    assert model.head.mlp[0].weight.grad is not None
    model.zero_grad(set_to_none=True)
    model.head.set_prototypes_frozen(False)
    sum(v for k, v in model(**data, mode='loss').items() if k.startswith('loss')).backward()
    assert model.head.prototypes['global'].direction.grad.abs().sum() > 0


@pytest.mark.parametrize('method', ['dino', 's3pt'])
def test_loss_decreases_on_a_fixed_batch(method):
    torch.manual_seed(0)
    model = tiny_model(method)
    model.train()
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0)))
    data = fake_batch(batch=4)
    first = last = None
    for _ in range(12):
        log_vars = model.train_step(data, optim)
        model.update_teacher(0.9)
        first = log_vars['loss'].item() if first is None else first
        last = log_vars['loss'].item()
    assert last < first


def test_dino_loss_centering_modes():
    torch.manual_seed(0)
    logits = torch.randn(6, K)
    norms = torch.rand(K) + 0.5
    dino = MODELS.build(dict(type='DINOLoss', out_channels=K, teacher_temp=0.05, centering='logit'))
    dino.center.copy_(torch.randn(K))
    expected = torch.softmax((logits - dino.center) / 0.05, dim=-1)
    torch.testing.assert_close(dino.teacher_probs(logits), expected)
    center = dino.center.clone()
    dino.update_center(logits)
    torch.testing.assert_close(dino.center, 0.9 * center + 0.1 * logits.mean(0))

    vmf = MODELS.build(dict(type='DINOLoss', out_channels=K, teacher_temp=0.05, centering='probability',
                            vmf=True, bottleneck_channels=16))
    torch.testing.assert_close(vmf.center, torch.full((K, ), 1.0 / K))
    from s3pt_mm.models.utils.vmf import vmf_log_normalizer
    scaled = logits / 0.05 + vmf_log_normalizer(norms / 0.05, 16)
    # The uniform initial centre is a constant shift: plain vMF softmax.
    torch.testing.assert_close(vmf.teacher_probs(logits, norms), torch.softmax(scaled, -1))
    vmf.update_center(logits, norms)
    batch_probs = torch.softmax(scaled, -1).mean(0)
    torch.testing.assert_close(vmf.center, 0.9 / K + 0.1 * batch_probs)
    # Probability centering divides by the centre and renormalises.
    p = torch.softmax(scaled, -1) / vmf.center
    torch.testing.assert_close(vmf.teacher_probs(logits, norms), p / p.sum(-1, keepdim=True))


def test_schedules_follow_dino():
    assert cosine_momentum(0, 100, 0.996, 1.0) == pytest.approx(0.996)
    assert cosine_momentum(50, 100, 0.996, 1.0) == pytest.approx(0.998)
    assert cosine_momentum(100, 100, 0.996, 1.0) == pytest.approx(1.0)
    # np.linspace(0.04, 0.07, 30)[e], then 0.07
    assert linear_warmup(0, 30, 0.04, 0.07) == pytest.approx(0.04)
    assert linear_warmup(29, 30, 0.04, 0.07) == pytest.approx(0.07)
    assert linear_warmup(10, 30, 0.04, 0.07) == pytest.approx(0.04 + 0.03 * 10 / 29)
    assert linear_warmup(100, 30, 0.04, 0.07) == 0.07


def test_local_crops_enter_the_global_term_only():
    """DINO multi-crop: with L local views the global term averages the 2 * (2 + L) - 2
    cross-entropies between each teacher global view and every other student view."""
    torch.manual_seed(0)
    model = tiny_model('dino')
    model.eval()  # no drop path, so that the reference below sees the same network
    data = fake_batch()
    data['inputs'] = data['inputs'] + [torch.rand(2, 3, 16, 16) * 255 for _ in range(3)]
    data = model.data_preprocessor(data, training=True)
    views = data['inputs']
    loss = model(**data, mode='loss')['loss_global']  # centre still 0 during this step

    with torch.no_grad():
        t = model.teacher.head(model.teacher.backbone(torch.cat(views[:2]))[-1][:, 0], 'global')
        t_probs = torch.softmax(t / model.global_loss.teacher_temp, -1).chunk(2)
        s = [model.head(model.backbone(v)[-1][:, 0], 'global') for v in views]
        expected = [-(t_probs[i] * torch.log_softmax(s[v] / 0.1, -1)).sum(-1).mean()
                    for i in range(2) for v in range(5) if v != i]
    assert len(expected) == 8
    torch.testing.assert_close(loss.detach(), sum(expected) / 8)
