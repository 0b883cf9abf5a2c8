"""DINO's / CrIBo's gradient rules as mmengine optimizer wrappers, against the reference loops' rules
(``clip_gradients``, ``cancel_gradients_last_layer`` and ``get_params_groups`` of DINO's ``utils.py``, used
unchanged by CrIBo's ``main_cribo.py``), each restated here from the reference, not from our code."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import s3pt_mm.engine  # noqa: F401
import s3pt_mm.models  # noqa: F401
from s3pt_mm.engine import DINOOptimWrapper, clip_grad_per_tensor_


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    init_default_scope('mmpretrain')


def reference_clip_gradients(grads, clip):
    """DINO ``utils.clip_gradients``: for each parameter, ``clip_coef = clip / (||g|| + 1e-6)``, and
    ``g *= clip_coef`` when ``clip_coef < 1``."""
    out = []
    for g in grads:
        coef = clip / (g.norm(2).item() + 1e-6)
        out.append(g * coef if coef < 1 else g.clone())
    return out


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 3))


def _set_grads(net, scale):
    """Gradients of norm about scale x (0.5, 2, 0.8, 3) for the four tensors."""
    gen = torch.Generator().manual_seed(1)
    for factor, p in zip((0.5, 2.0, 0.8, 3.0), net.parameters()):
        g = torch.randn(p.shape, generator=gen)
        p.grad = g / g.norm() * scale * factor


def test_per_tensor_clipping_matches_dino():
    net = _net()
    _set_grads(net, 0.3)  # some tensors above 0.3, some below
    before = [p.grad.clone() for p in net.parameters()]
    norms = [g.norm().item() for g in before]
    assert min(norms) < 0.3 < max(norms)
    largest = clip_grad_per_tensor_(net.parameters(), 0.3)
    for g, expected in zip([p.grad for p in net.parameters()], reference_clip_gradients(before, 0.3)):
        torch.testing.assert_close(g, expected)
    assert largest.item() == pytest.approx(max(norms))


def test_per_tensor_clipping_differs_from_global_norm_clipping():
    """mmengine's clip_grad=dict(max_norm=0.3) scales every tensor by one global factor."""
    net, other = _net(), _net()
    _set_grads(net, 0.3)
    _set_grads(other, 0.3)
    clip_grad_per_tensor_(net.parameters(), 0.3)
    torch.nn.utils.clip_grad_norm_(other.parameters(), 0.3)
    assert not all(torch.allclose(a.grad, b.grad) for a, b in zip(net.parameters(), other.parameters()))


def _adamw_step_on(net, grads, lr, weight_decay):
    """One plain AdamW step of ``net`` with the given gradients (the reference update)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    for p, g in zip(net.parameters(), grads):
        p.grad = g.clone()
    opt.step()


def test_wrapper_clips_each_tensor_before_the_step():
    net, reference = _net(), _net()
    wrapper = DINOOptimWrapper(torch.optim.AdamW(net.parameters(), lr=0.1, weight_decay=0.04),
                               clip_grad=dict(type='per_tensor', max_norm=0.3))
    _set_grads(net, 0.3)
    clipped = reference_clip_gradients([p.grad for p in net.parameters()], 0.3)
    wrapper.step()
    _adamw_step_on(reference, clipped, lr=0.1, weight_decay=0.04)
    for a, b in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


def test_frozen_parameters_are_left_alone_like_dino_last_layer():
    """DINO sets ``p.grad = None`` for the last layer during the freeze epochs: AdamW then skips it
    entirely (no update, no weight decay, no moment); the rest is updated as usual."""
    net = _net()
    wrapper = DINOOptimWrapper(torch.optim.AdamW(net.parameters(), lr=0.1, weight_decay=0.5))
    last = list(net[2].parameters())
    before = [p.detach().clone() for p in net.parameters()]
    wrapper.set_frozen_parameters(last)
    _set_grads(net, 1.0)
    wrapper.step()
    for p, p0 in zip(net.parameters(), before):
        if any(p is q for q in last):
            assert torch.equal(p, p0) and p not in wrapper.optimizer.state
        else:
            assert not torch.equal(p, p0)
    wrapper.set_frozen_parameters([])
    _set_grads(net, 1.0)
    wrapper.step()
    assert all(not torch.equal(p, p0) for p, p0 in zip(net.parameters(), before))


def test_per_tensor_takes_only_max_norm():
    with pytest.raises(ValueError, match='max_norm'):
        DINOOptimWrapper(torch.optim.SGD(_net().parameters(), lr=0.1),
                         clip_grad=dict(type='per_tensor', max_norm=0.3, norm_type=1))


def reference_weight_decay(name, shape, weight_decay):
    """DINO / CrIBo ``get_params_groups``: no decay for ``*.bias`` and 1-D tensors, decay otherwise."""
    return 0.0 if name.endswith('.bias') or len(shape) == 1 else weight_decay


def reference_shape(name, param):
    """The shape of the reference's parameter that plays the role of ours: a prototype magnitude g is
    ``DINOHead.last_layer.weight_g`` (``nn.utils.weight_norm``), of shape (K, 1); the others match."""
    return (param.shape[0], 1) if name.endswith('.magnitude') else tuple(param.shape)


@pytest.mark.parametrize('config', [
    'configs/pretrain/s3pt_vit-s16_8xb32-500e_nuscenes.py',
    'configs/pretrain/cribo_vit-b16_8xb32-100e_nuscenes.py',
    'configs/pretrain/dino_vit-s16_8xb32-500e_nuscenes.py',
])
def test_effective_weight_decay_of_every_parameter_follows_the_reference(config):
    cfg = Config.fromfile(config)
    # A small queue and prototype count keep this test light; the parameter set is the paper's.
    cfg.model.queue_size = min(cfg.model.get('queue_size', 0), 2)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)  # the config's own (fp16) wrapper, also on a CPU
    decay_of = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    base = cfg.optim_wrapper.optimizer.weight_decay
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # learnt magnitudes unless the config fixes them (Tables 5-6: "norm last layer" for ViT-B/16)
    assert any(n.endswith('.magnitude') for n, _ in trainable) != cfg.model.head.norm_last_layer
    for name, param in trainable:  # (the reference optimises only parameters that require gradient)
        expected = reference_weight_decay(name, reference_shape(name, param), base)
        assert decay_of[id(param)] == pytest.approx(expected), name


def test_vit_b_configs_clip_each_tensor_to_0_3():
    for method in ('dino', 'cribo', 's3pt'):
        cfg = Config.fromfile(f'configs/pretrain/{method}_vit-b16_8xb32-100e_nuscenes.py')
        assert cfg.optim_wrapper.type == 'DINOAmpOptimWrapper'
        assert cfg.optim_wrapper.clip_grad == dict(type='per_tensor', max_norm=0.3), method
        cfg = Config.fromfile(f'configs/pretrain/{method}_vit-s16_8xb32-500e_nuscenes.py')
        assert cfg.optim_wrapper.clip_grad is None, method  # Tables 5-7: "-"


def test_global_norm_clipping_stays_available():
    net = _net()
    wrapper = DINOOptimWrapper(torch.optim.SGD(net.parameters(), lr=1.0), clip_grad=dict(max_norm=0.3))
    assert isinstance(wrapper, OptimWrapper)
    _set_grads(net, 1.0)
    before = [p.detach().clone() for p in net.parameters()]
    total = math.sqrt(sum(p.grad.norm().item() ** 2 for p in net.parameters()))
    grads = [p.grad.clone() * 0.3 / (total + 1e-6) for p in net.parameters()]
    wrapper.step()
    for p, p0, g in zip(net.parameters(), before, grads):
        torch.testing.assert_close(p, p0 - g)


def _amp_wrapper(model, **kwargs):
    return build_optim_wrapper(model, dict(type='DINOAmpOptimWrapper', optimizer=dict(type='SGD', lr=1.0),
                                           clip_grad=dict(type='per_tensor', max_norm=0.5), **kwargs))


def test_amp_wrapper_runs_on_a_cpu_and_unscales_before_the_per_tensor_clip():
    """DINO's fp16 loop: ``scaler.scale(loss).backward(); scaler.unscale_(optimizer); clip_gradients(...);
    scaler.step(optimizer); scaler.update()``. On a CPU the wrapper's scaler is torch's CPU GradScaler; the
    gradient reaching SGD (lr 1) is the unscaled gradient clipped to norm 0.5 -- clipping the scaled gradient
    would give 0.5 / 1024 -- and the forward runs under CPU autocast in the configured dtype."""
    model = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    wrapper = _amp_wrapper(model, loss_scale=dict(init_scale=1024.0), dtype='float16')
    assert isinstance(wrapper.loss_scaler, torch.amp.GradScaler) and wrapper.loss_scaler._device == 'cpu'
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.float16
        out = model(torch.full((1, 4), 3.0))
    assert out.dtype == torch.float16
    wrapper.update_params(out.float().sum())  # gradient 3 per weight, norm 6: clipped to 0.5
    torch.testing.assert_close(model.weight, torch.full((1, 4), 1.0 - 0.5 / 4 ** 0.5 * 1.0))
    assert wrapper.loss_scaler.get_scale() == 1024.0  # finite step: the scale stays (growth after 2000)


def test_amp_wrapper_skips_a_step_with_an_overflowed_gradient_and_halves_the_scale():
    model = nn.Linear(2, 1, bias=False)
    before = model.weight.detach().clone()
    wrapper = _amp_wrapper(model, loss_scale='dynamic', dtype='bfloat16')
    assert wrapper.loss_scaler.get_scale() == 2.0 ** 16  # 'dynamic': GradScaler's defaults, as on CUDA
    wrapper.update_params((model(torch.ones(1, 2)) * float('inf')).sum())
    assert torch.equal(model.weight, before) and wrapper.loss_scaler.get_scale() == 2.0 ** 15
