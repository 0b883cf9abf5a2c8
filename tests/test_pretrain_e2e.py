"""End to end: tools/train.py pre-trains DINO, CrIBo and S3PT on the synthetic nuScenes data (after
tools/create_data.py), then resumes; checkpoints hold student and EMA teacher."""
import pytest
import torch
from conftest import demo_train_options, run_tool

from s3pt_mm.utils.compat import load_trusted_checkpoint


def train(config, work_dir, data_root, epochs, *extra):
    result = run_tool('tools/train.py', config, '--work-dir', str(work_dir), *extra, '--cfg-options',
                      *demo_train_options(data_root, epochs))
    return result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize('method,losses', [
    ('dino', ['loss_global']),
    ('cribo', ['loss_global', 'loss_object_cv', 'loss_object_ci']),
    ('s3pt', ['loss_global', 'loss_object_cv', 'loss_object_ci']),
])
def test_train_then_resume(method, losses, pretrain_data_root, tmp_path):
    config = f'configs/demo/{method}_vit-demo_synthetic.py'
    log = train(config, tmp_path, pretrain_data_root, 2)
    for name in losses:
        assert f'{name}: ' in log
    assert 'Epoch(train) [2][3/3]' in log  # 18 training images / batch 6 = 3 iterations per epoch
    ckpt = load_trusted_checkpoint(tmp_path / 'epoch_2.pth', map_location='cpu')
    state = ckpt['state_dict']
    student, teacher = state['backbone.cls_token'], state['teacher.backbone.cls_token']
    assert not torch.equal(student, teacher)  # EMA teacher lags behind the student
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 6

    log = train(config, tmp_path, pretrain_data_root, 3, '--resume')
    assert 'resumed epoch: 2, iter: 6' in log
    assert 'Epoch(train) [3][3/3]' in log and 'Epoch(train) [1]' not in log
    resumed = load_trusted_checkpoint(tmp_path / 'epoch_3.pth', map_location='cpu')
    assert resumed['meta']['iter'] == 9
    if method != 'dino':  # the cross-image queue is part of the state and survives the resume
        assert int(resumed['state_dict']['queue.filled']) > int(state['queue.filled'])
