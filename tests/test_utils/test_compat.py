"""The mmengine <-> modern torch compatibility fixes (s3pt_mm.utils.compat), with real Runner
checkpoints: weights-only loading with exactly the allow-list they need, save, resume, load_from."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

import s3pt_mm.engine  # noqa: F401  (importing it applies the fixes)
from s3pt_mm.utils.compat import apply_compat_patches, load_checkpoint_safely, runner_checkpoint_globals

from tests.helpers import ROOT, make_toy_runner


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('trained')
    runner = make_toy_runner(work_dir, max_iters=4)
    runner.train()
    return work_dir, {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_runner_checkpoint_needs_the_fix(trained):
    """A Runner checkpoint holds non-tensor objects (message hub history buffers), which torch's
    weights-only default rejects: the reason for the fix, and proof that torch.load itself keeps its
    default (the allow-list is scoped to the loaders of mmengine and s3pt_mm)."""
    work_dir, _ = trained
    ckpt = work_dir / 'iter_4.pth'
    assert ckpt.is_file()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, map_location='cpu')
    loaded = load_checkpoint_safely(ckpt, map_location='cpu')
    assert loaded['meta']['iter'] == 4
    assert 'message_hub' in loaded


def test_a_fresh_process_loads_it(trained):
    """The statistics methods of the history buffers load in a process where no HistoryBuffer was made
    yet (mmengine registers them on the first one)."""
    code = ('import sys; from s3pt_mm.utils.compat import load_checkpoint_safely; '
            'print(load_checkpoint_safely(sys.argv[1])["message_hub"]["log_scalars"]["train/loss"].mean())')
    result = subprocess.run([sys.executable, '-c', code, str(trained[0] / 'iter_4.pth')], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) > 0


def test_the_allow_list_is_exactly_what_runner_checkpoints_need(trained):
    """Every allowed type is needed to load a real Runner checkpoint weights-only, and they suffice."""
    ckpt = trained[0] / 'iter_4.pth'
    allowed = runner_checkpoint_globals()
    with torch.serialization.safe_globals(allowed):
        torch.load(ckpt, map_location='cpu', weights_only=True)
    for needed in allowed:
        with torch.serialization.safe_globals([g for g in allowed if g is not needed]):
            with pytest.raises(pickle.UnpicklingError):
                torch.load(ckpt, map_location='cpu', weights_only=True)


def test_resume_restores_weights_iteration_and_optimizer(trained, tmp_path):
    work_dir, weights = trained
    runner = make_toy_runner(tmp_path, max_iters=6, resume=True, load_from=str(work_dir / 'iter_4.pth'))
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
    runner = make_toy_runner(tmp_path, max_iters=2, load_from=str(work_dir / 'iter_4.pth'))
    runner.load_or_resume()
    assert runner.iter == 0  # a fresh schedule, not a resume
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, weights[key])


def test_patches_are_idempotent():
    import mmengine.runner.checkpoint as mm_checkpoint
    patched, loader = mm_checkpoint.torch, mm_checkpoint.CheckpointLoader.load_checkpoint
    apply_compat_patches()
    apply_compat_patches()
    assert mm_checkpoint.torch is patched
    assert mm_checkpoint.CheckpointLoader.load_checkpoint.__func__ is loader.__func__  # wrapped once
    assert mm_checkpoint.torch.Tensor is torch.Tensor  # everything else is torch's own
