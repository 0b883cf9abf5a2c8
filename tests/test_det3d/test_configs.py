"""The PETR configs read like the paper's Table 8, inherit mmdetection3d's runtime and cyclic schedule, and
build into frozen-backbone detectors."""
from pathlib import Path

import pytest

pytest.importorskip('mmdet3d')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import s3pt_mm.det3d  # noqa: E402,F401
from tests.helpers import ROOT  # noqa: E402

DET3D = ROOT / 'configs' / 'detection3d'
VIT_CONFIGS = {'deit-small': 'petr_vit-s16-frozen_gridmask_cyclic-20e_nus-800x320.py',
               'deit-base': 'petr_vit-b16-frozen_gridmask_cyclic-20e_nus-800x320.py'}
WIDTH = {'deit-small': 384, 'deit-base': 768}
PORT_EMBED_DIMS = 256  # mmdetection3d projects/PETR: PETRHead.embed_dims is fixed at 256
GPUS = 8  # mmdetection3d's (and PETR's) GPU count, the reading of Table 8's per-GPU batch 2


def plain(obj):
    """Config content without the ``_scope_`` keys mmengine adds to ``mmdet3d::`` bases."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def mmdet3d_config(name):
    import mmdet3d
    return Config.fromfile(str(Path(mmdet3d.__file__).parent / '.mim' / 'configs' / '_base_' / name))


@pytest.mark.parametrize('arch', sorted(VIT_CONFIGS))
def test_table8_hyper_parameters(arch):
    cfg = Config.fromfile(str(DET3D / VIT_CONFIGS[arch]))
    model = cfg.model
    assert model.img_backbone.type == 'FrozenPretrainedViT' and model.img_backbone.arch == arch
    assert model.img_backbone.patch_size == 16 and tuple(model.img_backbone.img_size) == (320, 800)
    assert model.img_backbone.which == 'teacher'
    head = model.pts_bbox_head
    # Table 8's hidden dims 384 / 768 are the input projection's in_channels; the transformer is the port's 256
    assert head.in_channels == WIDTH[arch] and head.embed_dims == PORT_EMBED_DIMS
    assert head.num_query == 900
    assert (head.decoder.num_layers, head.decoder.num_heads, head.decoder.feedforward_channels) == (6, 8, 2048)
    assert head.position_embedding.position_range == [-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]
    assert head.position_embedding.lid
    assert model.grid_mask is not None
    # Table 8: grid 512 x 512 x 1 of voxels 0.2 x 0.2 x 8 m.
    assert cfg.point_cloud_range == [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 3e-4, 0.01)
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    assert cfg.optim_wrapper.constructor == 'TrainableParamsOptimWrapperConstructor'
    # the learning rate is for the total batch: 8 GPUs x 2, so --auto-scale-lr leaves it on 8 GPUs
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == GPUS * 2
    assert cfg.train_cfg.max_epochs == 20
    assert cfg.model.train_cfg.assigner.type == 'mmdet.HungarianAssigner'


@pytest.mark.parametrize('arch', sorted(VIT_CONFIGS))
def test_runtime_and_schedule_are_mmdet3d_s(arch):
    """mmdetection3d's cyclic-20e (the paper's schedule) with lr 3e-4 and a warm-up epoch; its runtime."""
    cfg = Config.fromfile(str(DET3D / VIT_CONFIGS[arch]))
    cyclic, runtime = mmdet3d_config('schedules/cyclic-20e.py'), mmdet3d_config('default_runtime.py')
    scale = cfg.optim_wrapper.optimizer.lr / cyclic.lr
    assert scale == pytest.approx(3.0)
    warmup, *steps = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end, warmup.start_factor) == ('LinearLR', 0, 1, pytest.approx(1 / 3))
    assert len(steps) == len(cyclic.param_scheduler)
    for ours, theirs in zip(plain(steps), cyclic.param_scheduler):
        if theirs['type'] == 'CosineAnnealingLR':  # eta_min is a multiple of lr
            ours['eta_min'] = pytest.approx(ours['eta_min'] / scale)
        assert ours == theirs
    for key in ('train_cfg', 'val_cfg', 'test_cfg'):
        assert plain(cfg[key]) == cyclic[key], key
    assert cfg.optim_wrapper.clip_grad == cyclic.optim_wrapper.clip_grad
    assert cfg.optim_wrapper.optimizer.weight_decay == cyclic.optim_wrapper.optimizer.weight_decay
    for key in ('env_cfg', 'log_processor', 'default_scope'):
        assert plain(cfg[key]) == runtime[key], key
    assert plain(cfg.default_hooks) == dict(runtime.default_hooks, checkpoint=dict(type='CheckpointHook', interval=1,
                                                                max_keep_ckpts=3))
    resize = [t for t in cfg.train_pipeline if t.type == 'MultiViewResizeCropFlip']
    assert len(resize) == 1 and tuple(resize[0].final_size) == (320, 800)
    assert cfg.val_evaluator.type == 'NuScenesMetric'


@pytest.mark.parametrize('arch', sorted(VIT_CONFIGS))
def test_builds_with_a_frozen_backbone(arch):
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(DET3D / VIT_CONFIGS[arch]))
    detector = MODELS.build(cfg.model)
    backbone = detector.img_backbone
    assert backbone.embed_dims == WIDTH[arch] and len(backbone.layers) == 12
    assert not any(p.requires_grad for p in backbone.parameters())
    assert all(p.requires_grad for p in detector.pts_bbox_head.parameters())
    detector.train()
    assert not backbone.training and detector.pts_bbox_head.training


def test_supervised_reference_trains_its_backbone():
    cfg = Config.fromfile(str(DET3D / 'petr_r50-supervised_gridmask_cyclic-20e_nus-800x320.py'))
    assert cfg.model.img_backbone.type == 'mmdet.ResNet'
    assert cfg.model.pts_bbox_head.in_channels == 1024 and cfg.model.pts_bbox_head.embed_dims == PORT_EMBED_DIMS
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['img_backbone'].lr_mult == 0.1
    assert 'checkpoint' not in cfg.model.img_backbone
