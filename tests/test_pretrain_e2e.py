"""End to end: tools/train.py pre-trains DINO, CrIBo and S3PT on the synthetic nuScenes data (after
tools/create_data.py), then resumes; checkpoints hold student and EMA teacher."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s3pt_mm.utils.compat import load_trusted_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def pretrain_data(synthetic_data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrain') / 'nuscenes'
    shutil.copytree(synthetic_data_root / 'nuscenes', root)
    subprocess.run([sys.executable, 'tools/create_data.py', 'nuscenes', '--root-path', str(root),
                    '--version', 'v1.0-mini', '--workers', '0'], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True)
    return root


def train(config, work_dir, data_root, epochs, *extra):
    options = [f'train_dataloader.dataset.data_root={data_root}/', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=6',
               f'train_cfg.max_epochs={epochs}', 'default_hooks.checkpoint.interval=1',
               'default_hooks.logger.interval=1']
    result = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), *extra, '--cfg-options',
         *options], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize('method,losses', [
    ('dino', ['loss_global']),
    ('cribo', ['loss_global', 'loss_object_cv', 'loss_object_ci']),
    ('s3pt', ['loss_global', 'loss_object_cv', 'loss_object_ci']),
])
def test_train_then_resume(method, losses, pretrain_data, tmp_path):
    config = f'configs/demo/{method}_vit-demo_synthetic.py'
    log = train(config, tmp_path, pretrain_data, 2)
    for name in losses:
        assert f'{name}: ' in log
    assert 'Epoch(train) [2][3/3]' in log  # 18 training images / batch 6 = 3 iterations per epoch
    ckpt = load_trusted_checkpoint(tmp_path / 'epoch_2.pth', map_location='cpu')
    state = ckpt['state_dict']
    student, teacher = state['backbone.cls_token'], state['teacher.backbone.cls_token']
    assert not torch.equal(student, teacher)  # EMA teacher lags behind the student
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 6

    log = train(config, tmp_path, pretrain_data, 3, '--resume')
    assert 'resumed epoch: 2, iter: 6' in log
    assert 'Epoch(train) [3][3/3]' in log and 'Epoch(train) [1]' not in log
    resumed = load_trusted_checkpoint(tmp_path / 'epoch_3.pth', map_location='cpu')
    assert resumed['meta']['iter'] == 9
    if method != 'dino':  # the cross-image queue is part of the state and survives the resume
        assert int(resumed['state_dict']['queue.filled']) > int(state['queue.filled'])
