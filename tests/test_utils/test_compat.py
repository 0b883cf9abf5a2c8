"""The mmengine <-> modern torch compatibility fixes (s3pt_mm.utils.compat), with real Runner
checkpoints: save, resume, load_from."""
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

import s3pt_mm.engine  # noqa: F401  (importing it applies the fixes)
from s3pt_mm.utils.compat import apply_compat_patches, load_trusted_checkpoint


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - targets) ** 2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        g = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(2, generator=g), targets=torch.tensor(float(idx)))


def make_runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine',
        experiment_name=f'toy_{work_dir.name}_{max_iters}_{len(kwargs)}',
        **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('trained')
    runner = make_runner(work_dir, max_iters=4)
    runner.train()
    return work_dir, {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_runner_checkpoint_needs_the_fix(trained):
    """A Runner checkpoint holds non-tensor objects (message hub history buffers), which torch's
    weights-only default rejects: the reason for the fix, and proof that torch.load itself keeps its
    safe default (the fix is scoped to mmengine's checkpoint loader)."""
    work_dir, _ = trained
    ckpt = work_dir / 'iter_4.pth'
    assert ckpt.is_file()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, map_location='cpu')
    loaded = load_trusted_checkpoint(ckpt, map_location='cpu')
    assert loaded['meta']['iter'] == 4
    assert 'message_hub' in loaded


def test_resume_restores_weights_iteration_and_optimizer(trained, tmp_path):
    work_dir, weights = trained
    runner = make_runner(tmp_path, max_iters=6, resume=True, load_from=str(work_dir / 'iter_4.pth'))
    runner.load_or_resume()
    assert runner.iter == 4
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, weights[key])
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    assert state and all(s['step'] == 4 for s in state.values())
    runner.train()  # continues from iteration 4 to 6
    assert runner.iter == 6
    assert (tmp_path / 'iter_6.pth').is_file()


def test_load_from_initialises_weights_only(trained, tmp_path):
    work_dir, weights = trained
    runner = make_runner(tmp_path, max_iters=2, load_from=str(work_dir / 'iter_4.pth'))
    runner.load_or_resume()
    assert runner.iter == 0  # a fresh schedule, not a resume
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, weights[key])


def test_explicit_weights_only_is_honoured(trained):
    work_dir, _ = trained
    with pytest.raises(pickle.UnpicklingError):
        load_trusted_checkpoint(work_dir / 'iter_4.pth', weights_only=True)


def test_patches_are_idempotent():
    import mmengine.runner.checkpoint as mm_checkpoint
    patched = mm_checkpoint.torch
    apply_compat_patches()
    apply_compat_patches()
    assert mm_checkpoint.torch is patched
    assert mm_checkpoint.torch.load is load_trusted_checkpoint
    assert mm_checkpoint.torch.Tensor is torch.Tensor  # everything else is torch's own
