"""Exact resume: S3PT pre-training (the demo config on the synthetic data, mmengine Runner, CPU) interrupted
after iteration 5 and resumed from its last checkpoint continues exactly as the uninterrupted run: the same
losses at every later iteration and the same final weights (student and EMA teacher), object queue, loss
centres, optimizer state, schedules and teacher temperature. (The prototype freeze, the teacher momentum
and temperature are set from the iteration by their hooks; a wrong freeze after the resume would move the
prototypes differently.)"""
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from tests.helpers import ROOT

CONFIG = ROOT / 'configs/demo/s3pt_vit-demo_synthetic.py'


class Interrupted(Exception):
    pass


class Record(Hook):
    """Records every iteration's loss terms; raises :class:`Interrupted` after iteration ``stop_after``
    (after the other hooks, the checkpoint hook included)."""
    priority = 'LOWEST'

    def __init__(self, stop_after=None):
        self.losses, self.stop_after = {}, stop_after

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = {name: value.item() for name, value in outputs.items()}
        if runner.iter + 1 == self.stop_after:
            raise Interrupted


@pytest.fixture()
def deterministic():
    """mmengine's ``randomness.deterministic`` switches torch to deterministic algorithms process-wide."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def train(work_dir, data_root, record, resume=False):
    """2 epochs of 3 iterations (18 training images, batch 6), a checkpoint after each epoch."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), resume=resume, experiment_name=f'resume_{work_dir.name}_{resume}',
        randomness=dict(seed=0, deterministic=True, diff_rank_seed=True),
        train_dataloader=dict(dataset=dict(data_root=f'{data_root}/'), num_workers=0, persistent_workers=False,
                              batch_size=6),
        train_cfg=dict(max_epochs=2), default_hooks=dict(checkpoint=dict(interval=1), logger=dict(interval=1))))
    if not any(hook['type'] == 'IterationSeedHook' for hook in cfg.custom_hooks):
        cfg.custom_hooks = [*cfg.custom_hooks, dict(type='IterationSeedHook')]
    runner = Runner.from_cfg(cfg)
    runner.register_hook(record)
    runner.train()
    return runner


def final_state(runner):
    model = runner.model
    return dict(
        model=model.state_dict(), optimizer=runner.optim_wrapper.state_dict(),
        schedulers=[scheduler.state_dict() for scheduler in runner.param_schedulers],
        teacher_temp=(model.global_loss.teacher_temp, model.object_loss.teacher_temp))


def assert_same(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


@pytest.mark.slow
def test_interrupted_and_resumed_training_continues_exactly(pretrain_data_root, tmp_path, deterministic):
    straight = Record()
    expected = final_state(train(tmp_path / 'straight', pretrain_data_root, straight))

    interrupted = Record(stop_after=5)  # mid epoch 2: the last checkpoint is epoch_1.pth (iteration 3)
    with pytest.raises(Interrupted):
        train(tmp_path / 'interrupted', pretrain_data_root, interrupted)
    resumed = Record()
    runner = train(tmp_path / 'interrupted', pretrain_data_root, resumed, resume=True)

    assert sorted(resumed.losses) == [4, 5, 6]
    assert set(resumed.losses[4]) == {'loss', 'loss_global', 'loss_object_cv', 'loss_object_ci', 'num_objects'}
    for iteration in (4, 5, 6):
        assert resumed.losses[iteration] == straight.losses[iteration], f'iteration {iteration}'
    state = final_state(runner)
    assert len(runner.model.queue) > 0
    assert_same(state, expected)
