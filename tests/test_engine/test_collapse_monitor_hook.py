"""CollapseMonitorHook: logs the teacher's collapse statistics and stops a collapsed run; DINO without
centering collapses and is stopped, with centering it is not."""
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub

import s3pt_mm.engine  # noqa: F401
from s3pt_mm.engine.hooks import CollapseMonitorHook

from tests.helpers import fake_pretrain_batch, tiny_model


class _Model:
    """The attributes of S3PT the hook uses: the flag, the statistics, the prototype layers."""

    def __init__(self, stats_per_step, k=16):
        self.collect_collapse_statistics = False
        self.collapse_statistics = {}
        self.head = SimpleNamespace(prototypes={'global': SimpleNamespace(direction=torch.zeros(k, 4))})
        self._stats = iter(stats_per_step)

    def step(self):
        if self.collect_collapse_statistics:
            self.collapse_statistics = {'global': next(self._stats)}


def _run(hook, model, iterations):
    scalars = []
    runner = SimpleNamespace(model=model, message_hub=MessageHub.get_instance('collapse_test'), iter=0,
                             visualizer=SimpleNamespace(add_scalars=lambda s, step: scalars.append((step, s))))
    for it in range(iterations):
        runner.iter = it
        hook.before_train_iter(runner, it)
        model.step()
        hook.after_train_iter(runner, it)
    return scalars


def _stats(kl, entropy):
    return dict(entropy=entropy, kl_to_mean=kl, entropy_of_mean=entropy + kl, prototypes_in_use=3.0,
                log_num_prototypes=math.log(16))


def test_hook_logs_every_interval_and_stops_after_patience():
    hook = CollapseMonitorHook(interval=2, min_kl=0.01, patience=2)
    model = _Model([_stats(0.5, 1.0), _stats(0.001, 2.7), _stats(0.3, 1.0), _stats(0.001, 2.7),
                    _stats(0.002, 2.7)])
    with pytest.raises(RuntimeError, match=r'global head has collapsed \(uniform.*iteration 10'):
        _run(hook, model, 12)


def test_hook_logs_without_stopping_when_patience_is_zero_and_names_one_prototype_collapse():
    hook = CollapseMonitorHook(interval=3, min_kl=0.01, patience=0)
    scalars = _run(hook, _Model([_stats(0.001, 0.01)] * 4), 12)
    assert [step for step, _ in scalars] == [3, 6, 9, 12]
    assert scalars[0][1]['train/collapse/global_kl_to_mean'] == 0.001
    hook = CollapseMonitorHook(interval=1, min_kl=0.01, patience=1)
    with pytest.raises(RuntimeError, match='one-prototype'):
        _run(hook, _Model([_stats(0.001, 0.01)]), 1)


def test_hook_waits_for_start_iter():
    hook = CollapseMonitorHook(interval=1, min_kl=0.01, patience=1, start_iter=5)
    _run(hook, _Model([_stats(0.0, 2.7)] * 5), 5)  # a fresh teacher is near-uniform: not yet a collapse
    with pytest.raises(RuntimeError):
        _run(hook, _Model([_stats(0.0, 2.7)] * 10), 10)


def _structured_batch(batch, seed):
    """Two noisy views of images of 4 kinds (colour and pattern): a signal that DINO can learn on the tiny
    test ViT within a few dozen steps (on pure noise images every teacher output is the same)."""
    data = fake_pretrain_batch(batch=batch, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    kind = torch.randint(0, 4, (batch, ), generator=gen)
    palette = torch.tensor([[250.0, 20, 20], [20, 250, 20], [20, 20, 250], [250, 250, 20]])
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing='ij')
    patterns = torch.stack([torch.sin(xx / 3), torch.sin(yy / 3), torch.sin((xx + yy) / 3),
                            torch.cos(xx / 2) * torch.cos(yy / 2)])
    data['inputs'] = [(palette[kind][:, :, None, None] * (0.6 + 0.4 * patterns[kind][:, None]) +
                       torch.rand(batch, 3, 32, 32, generator=gen) * 40).clamp(0, 255) for _ in range(2)]
    return data


@pytest.mark.parametrize('center_momentum, collapses', [(0.9, False), (1.0, True)])
def test_dino_without_centering_collapses_and_is_stopped(center_momentum, collapses):
    """DINO with its centre frozen at 0 (no centering) collapses onto one prototype (DINO §5.3); with
    centering it does not. Same seed, data and schedule; the hook watches both."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = tiny_model('dino')
    model.global_loss.center_momentum = center_momentum
    model.train()
    optim = build_optim_wrapper(model, dict(type='DINOOptimWrapper',
                                            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0)))
    hook = CollapseMonitorHook(interval=10, min_kl=0.01, patience=3, start_iter=10)
    runner = SimpleNamespace(model=model, message_hub=MessageHub.get_instance('collapse_dino'), iter=0,
                             visualizer=SimpleNamespace(add_scalars=lambda s, step: None))

    def train(iterations):
        for it in range(iterations):
            runner.iter = it
            hook.before_train_iter(runner, it)
            model.train_step(_structured_batch(16, it), optim)
            model.update_teacher(0.9)
            hook.after_train_iter(runner, it)

    if collapses:
        with pytest.raises(RuntimeError, match='one-prototype'):
            train(60)
    else:
        train(60)
        assert runner.message_hub.get_scalar('train/collapse/global_kl_to_mean').current() > 0.1
