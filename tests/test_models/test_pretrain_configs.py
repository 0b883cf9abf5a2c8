"""The pre-training configs read like the paper's Tables 5-7 and the Table 1 ladder, and build."""

import pytest
from mmengine.config import Config

from tests.helpers import ROOT

CONFIGS = ROOT / 'configs' / 'pretrain'


def load(name):
    return Config.fromfile(str(CONFIGS / name))


def hook(cfg, type_):
    return next(h for h in cfg.custom_hooks if h['type'] == type_)


@pytest.mark.parametrize('arch,epochs,lr,min_lr,clip,temp_epochs,freeze', [
    ('vit-s16_8xb32-500e', 500, 5e-4, 1e-5, None, 30, 1),
    ('vit-b16_8xb32-100e', 100, 7.5e-4, 2e-6, 0.3, 50, 3),
])
@pytest.mark.parametrize('method', ['dino', 'cribo', 's3pt'])
def test_tables_5_to_7(method, arch, epochs, lr, min_lr, clip, temp_epochs, freeze):
    cfg = load(f'{method}_{arch}_nuscenes.py')
    model = cfg.model
    assert model.type == 'S3PT'
    assert model.backbone.arch == ('deit-small' if 'vit-s16' in arch else 'deit-base')
    assert model.backbone.patch_size == 16 and model.backbone.drop_path_rate == 0.1
    head = model.head
    assert (head.num_layers, head.hidden_channels, head.bottleneck_channels) == (3, 2048, 256)
    assert head.num_prototypes == 65536
    assert head.in_channels == (384 if 'vit-s16' in arch else 768)
    # training epochs, lr, min lr, warm-up, weight decay 0.04 -> 0.4, clip, fp16, batch 8 x 32
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == lr and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.type == 'DINOAmpOptimWrapper' and cfg.optim_wrapper.dtype == 'float16'  # fp16: 1
    # gradient clip: per tensor, as DINO's clip_gradients (tests/test_optim_wrappers.py)
    assert cfg.optim_wrapper.clip_grad == (dict(type='per_tensor', max_norm=clip) if clip else None)
    warmup, cosine, wd = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 10
    assert cosine.eta_min == min_lr and cosine.end == epochs
    assert cfg.optim_wrapper.optimizer.weight_decay * wd.eta_min_ratio == pytest.approx(0.4)
    assert cfg.train_dataloader.batch_size == 32
    # momentum 0.996 -> 1, teacher temp 0.04 -> 0.07, freeze last layer
    assert (hook(cfg, 'TeacherEMAHook').momentum, hook(cfg, 'TeacherEMAHook').end_momentum) == (0.996, 1.0)
    temp = hook(cfg, 'TeacherTempWarmupHook')
    assert (temp.start, temp.end, temp.warmup_epochs) == (0.04, 0.07, temp_epochs)
    assert hook(cfg, 'FreezePrototypesHook').freeze_epochs == freeze
    assert hook(cfg, 'ModelEpochHook') and hook(cfg, 'CollapseMonitorHook').patience > 0
    assert hook(cfg, 'NonFiniteCheckHook') and hook(cfg, 'IterationSeedHook')  # issue 14: stop on NaN, exact resume
    assert cfg.model_wrapper_cfg.find_unused_parameters is False and cfg.model_wrapper_cfg.broadcast_buffers is False
    assert model.global_loss.student_temp == 0.1
    multi_view = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'MultiViewWithDepth')
    crop = multi_view.transforms[0][0]
    expected_scale = (0.32, 1.0) if method != 'dino' and 'vit-b16' in arch else (0.25, 1.0)
    assert tuple(crop.scale) == expected_scale and crop.size == 224

    if method == 'dino':
        assert 'clustering' not in model and head.num_object_prototypes == 0
        assert multi_view.num_views == [1, 1, 10]  # local crops: 10
        local = multi_view.transforms[2][0]
        assert (local.size, tuple(local.scale)) == (96, (0.05, 0.25))  # local crops scale
        return
    clustering = model.clustering
    assert clustering.sinkhorn_lambda == 20.0 and clustering.pos_alpha == 1.0
    if method == 'cribo':
        assert (clustering.num_clusters, clustering.num_iters, clustering.depth_alpha) == (32, 5, 0.0)
        assert model.queue_size == 25000
        assert not model.object_loss.vmf and model.object_loss.centering == 'logit'
    else:
        assert (clustering.num_clusters, clustering.num_iters, clustering.depth_alpha) == (128, 1, 4.0)
        assert model.queue_size == 2500
        for loss in (model.global_loss, model.object_loss):
            assert loss.vmf and loss.centering == 'probability'
        assert head.norm_last_layer is False  # unnormalised prototypes for Eq. 2


TABLE_1 = {  # file prefix: (clusters, vMF, SK iterations, depth weight)
    '01': (32, False, 5, 0.0), '02': (32, True, 5, 0.0), '03': (8, True, 5, 0.0),
    '04': (16, True, 5, 0.0), '05': (64, True, 5, 0.0), '06': (128, True, 5, 0.0),
    '07': (32, True, 1, 0.0), '08': (128, True, 1, 0.0), '09': (128, True, 1, 0.5),
    '10': (128, True, 1, 1.0), '11': (128, True, 1, 4.0),
}


@pytest.mark.parametrize('row', sorted(TABLE_1))
def test_table_1_ladder(row):
    (path, ) = (CONFIGS / 'table1_ablation').glob(f'{row}_*.py')
    cfg = Config.fromfile(str(path))
    clusters, vmf, iters, depth = TABLE_1[row]
    c = cfg.model.clustering
    assert (c.num_clusters, c.num_iters, c.depth_alpha) == (clusters, iters, depth)
    for loss in (cfg.model.global_loss, cfg.model.object_loss):
        assert loss.vmf == vmf
        assert loss.centering == ('probability' if vmf else 'logit')
    assert cfg.train_cfg.max_epochs == 100 and cfg.param_scheduler[1].end == 100
    assert cfg.model.backbone.arch == 'deit-small'
    # queue: CrIBo's 25000 images, S3PT's 2500 in the rows with 128 clusters (docs/pretraining.md)
    assert cfg.model.queue_size == (2500 if clusters == 128 else 25000)


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['vit-s16_8xb32-500e', 'vit-b16_8xb32-100e'])
@pytest.mark.parametrize('method', ['dino', 'cribo', 's3pt'])
def test_paper_configs_build_and_train_a_step_on_cpu(method, arch):
    """The paper's models as configured (65536 prototypes, ViT-S/B at 224x224), a queue shrunk to 4 images
    to spare memory, one float32 optimisation step with DINOOptimWrapper (the configs' own fp16 and bf16 steps:
    tests/test_models/test_mixed_precision.py)."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import s3pt_mm.engine  # noqa: F401
    import s3pt_mm.models  # noqa: F401
    init_default_scope('mmpretrain')
    cfg = load(f'{method}_{arch}_nuscenes.py')
    if 'queue_size' in cfg.model:
        cfg.model.queue_size = 4
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.set_epoch(1)
    model.train()
    optim_cfg = dict(cfg.optim_wrapper, type='DINOOptimWrapper')
    optim_cfg.pop('loss_scale')
    optim_cfg.pop('dtype')
    optim = build_optim_wrapper(model, optim_cfg)
    batch, n = 2, 14 * 14
    gen = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (batch, 3, 224, 224), generator=gen).float() for _ in range(2)]
    if method == 'dino':
        views += [torch.randint(0, 256, (batch, 3, 96, 96), generator=gen).float() for _ in range(2)]
    grid = torch.stack(torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing='xy'), -1).reshape(n, 2)
    samples = []
    for _ in range(batch):
        sample = DataSample()
        sample.set_field(torch.stack([grid * 16 + 8, grid * 12 + 40]), 'token_positions')
        sample.set_field(torch.rand(2, n, generator=gen) * 50 + 1, 'token_depths')
        sample.set_field(torch.ones(2, n, dtype=torch.bool), 'token_depth_valid')
        samples.append(sample)
    before = model.backbone.cls_token.detach().clone()
    log_vars = model.train_step(dict(inputs=views, data_samples=samples), optim)
    assert torch.isfinite(log_vars['loss'])
    assert not torch.equal(model.backbone.cls_token, before)
