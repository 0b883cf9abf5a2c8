"""End to end: tools/train.py pre-trains DINO, CrIBo and S3PT on the synthetic nuScenes data (after
tools/create_data.py), then resumes; checkpoints hold student and EMA teacher."""
import re

import pytest
import torch
from tests.helpers import demo_train_options, run_tool

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
    if method != 'dino':  # the cross-image queue is part of the state and survives the resume:
        # 6 images per iteration enter it, 36 after 6 iterations and 54 after 9 (18 if it restarted)
        assert int(state['queue.image_ptr']) == 36 and int(resumed['state_dict']['queue.image_ptr']) == 54


@pytest.mark.slow
@pytest.mark.parametrize('method', ['dino', 'cribo', 's3pt'])
def test_demo_trains_with_amp(method, pretrain_data_root, tmp_path):
    """`--amp` as a user passes it: the demo's DINOOptimWrapper becomes DINOAmpOptimWrapper (loss scaler,
    autocast; on a CPU torch's CPU GradScaler and bf16 autocast), two epochs with every loss term
    logged and finite (NonFiniteCheckHook would stop the run otherwise), the loss scaler in the
    checkpoint."""
    log = train(f'configs/demo/{method}_vit-demo_synthetic.py', tmp_path, pretrain_data_root, 2, '--amp')
    assert 'Epoch(train) [2][3/3]' in log and not re.search(r'loss\w*: -?(nan|inf)', log)
    assert re.search(r'loss_global: \d+\.\d+', log)
    ckpt = load_trusted_checkpoint(tmp_path / 'epoch_2.pth', map_location='cpu')
    assert 'loss_scaler' in ckpt['optimizer']  # AmpOptimWrapper.state_dict
    assert ckpt['optimizer']['loss_scaler']['scale'] > 0


def _ddp_pretrain(rank, data_root, work_dir):
    """S3PT demo pre-training with mmengine's Runner under DDP (gloo, CPU): the process group exists
    already, so the Runner skips init_dist (which would select a CUDA device)."""
    import os

    from mmengine.config import Config
    from mmengine.runner import Runner
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE='2')
    cfg = Config.fromfile('configs/demo/s3pt_vit-demo_synthetic.py')
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), launcher='pytorch', train_dataloader=dict(
            dataset=dict(data_root=f'{data_root}/'), num_workers=0, persistent_workers=False, batch_size=3),
        train_cfg=dict(max_epochs=2), default_hooks=dict(logger=dict(interval=1)),
        # CPU modules take no device_ids; the rest as in configs/pretrain/_base_/default_runtime.py:
        # no unused-parameter search, no re-broadcast of the buffers (queue, centres) from rank 0.
        model_wrapper_cfg=dict(device_ids=None)))
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.model_wrapper_cfg.broadcast_buffers is False
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.module
    return dict(iters=runner.iter, student=model.backbone.state_dict(), teacher=model.teacher.state_dict(),
                queue=model.queue.features.clone(), filled=len(model.queue),
                centres=[model.global_loss.center.clone(), model.object_loss.center.clone()])


@pytest.mark.slow
def test_ddp_keeps_ranks_in_sync(pretrain_data_root, tmp_path):
    """Two DDP processes without unused-parameter search or buffer broadcast: each sees half of the
    images (18 images / (2 x 3) = 3 steps per epoch), the students stay identical (gradients all-reduced;
    the prototypes, frozen in epoch 1, get their gradients dropped on both ranks), so do the EMA teachers
    and the centres, and every rank's queue holds the objects of both ranks."""
    from functools import partial

    from tests.helpers import run_distributed
    rank_0, rank_1 = run_distributed(partial(_ddp_pretrain, data_root=pretrain_data_root, work_dir=tmp_path))
    assert rank_0['iters'] == rank_1['iters'] == 6
    for part in ('student', 'teacher'):
        for name, value in rank_0[part].items():
            torch.testing.assert_close(value, rank_1[part][name], msg=f'{part} {name} differs across ranks')
    assert rank_0['filled'] == rank_1['filled'] > 0
    torch.testing.assert_close(rank_0['queue'], rank_1['queue'])
    for centre_0, centre_1 in zip(rank_0['centres'], rank_1['centres']):
        torch.testing.assert_close(centre_0, centre_1)


def _ddp_steps_with_an_empty_rank(rank):
    """Three S3PT steps of the tiny test model under DDP (no unused-parameter search); rank 1's images
    share no cluster between their views (disjoint labels), so it has no object at all."""
    import torch.nn as nn
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import s3pt_mm.engine  # noqa: F401  (DINOOptimWrapper)
    from tests.helpers import fake_pretrain_batch, tiny_model
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = tiny_model('s3pt')
    model.set_epoch(1)
    if rank == 1:
        def disjoint(tokens, *args):
            half = tokens.shape[1] // 2
            return torch.cat([torch.zeros(half), torch.ones(half)]).long().expand(tokens.shape[0], -1)
        model.clustering.forward = disjoint
    ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=False, broadcast_buffers=False)
    optim = build_optim_wrapper(model, dict(type='DINOOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)))
    objects = []
    for step in range(3):
        data = model.data_preprocessor(fake_pretrain_batch(seed=10 * rank + step), training=True)
        losses = ddp(**data, mode='loss')
        optim.update_params(sum(v for k, v in losses.items() if k.startswith('loss')))
        model.update_teacher(0.9)
        objects.append(losses['num_objects'].item())
    return dict(objects=objects, student=model.backbone.state_dict(), queue=model.queue.features.clone(),
                counts=model.queue.image_counts.clone(), centre=model.object_loss.center.clone())


@pytest.mark.slow
def test_ddp_step_completes_when_one_rank_has_no_objects():
    from tests.helpers import run_distributed
    rank_0, rank_1 = run_distributed(_ddp_steps_with_an_empty_rank, timeout=120)
    assert min(rank_0['objects']) > 0 and rank_1['objects'] == [0, 0, 0]
    for name, value in rank_0['student'].items():
        torch.testing.assert_close(value, rank_1['student'][name], msg=name)
    torch.testing.assert_close(rank_0['queue'], rank_1['queue'])
    torch.testing.assert_close(rank_0['centre'], rank_1['centre'])
    # both ranks' images are in the queue: rank 1's with 0 objects
    assert rank_0['counts'].tolist() == rank_1['counts'].tolist()


@pytest.mark.slow
def test_demo_trains_with_views_rendered_on_the_device(pretrain_data_root, tmp_path):
    """The S3PT demo with its views rendered by DeferredViewsDataPreprocessor (here on the CPU) against the same
    pipeline rendered by the workers: the same seed gives the same views up to a few levels (tests/test_datasets/
    test_deferred_views.py), so the same loss within 0.1 % at the first iteration (measured: 12.8189 against
    12.8192), and training runs its epoch with every loss finite."""
    from tests.helpers import ROOT
    losses = {}
    for render, preprocessor in (('cpu', 'SelfSupDataPreprocessor'), ('device', 'DeferredViewsDataPreprocessor')):
        config = tmp_path / f'{render}.py'
        config.write_text(
            f"_base_ = '{ROOT}/configs/demo/s3pt_vit-demo_synthetic.py'\n"
            "train_dataloader = dict(dataset=dict(pipeline=[\n"
            "    dict(type='LoadImageForCrops'), dict(type='LoadDepthFromFile', upsample=False),\n"
            "    dict(type='MultiViewWithDepth', num_views=[2], transforms=[{{_base_.view}}],\n"
            f"         render='{render}'),\n"
            "    dict(type='PackMultiViewInputs')]))\n"
            f"model = dict(data_preprocessor=dict(type='{preprocessor}'))\n")
        log = train(str(config), tmp_path / render, pretrain_data_root, 1)
        assert 'Epoch(train) [1][3/3]' in log and not re.search(r'loss\w*: -?(nan|inf)', log)
        losses[render] = [float(x) for x in re.findall(r'Epoch\(train\) \[1\]\[1/3\].*? loss: (\d+\.\d+)', log)]
    assert len(losses['cpu']) == 1 and losses['device'][0] == pytest.approx(losses['cpu'][0], rel=1e-3)
