"""The PETR configs read like the paper's Table 8 and build into frozen-backbone detectors."""

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


@pytest.mark.parametrize('arch', sorted(VIT_CONFIGS))
def test_table8_hyper_parameters(arch):
    cfg = Config.fromfile(str(DET3D / VIT_CONFIGS[arch]))
    model = cfg.model
    assert model.img_backbone.type == 'FrozenPretrainedViT' and model.img_backbone.arch == arch
    assert model.img_backbone.patch_size == 16 and tuple(model.img_backbone.img_size) == (320, 800)
    assert model.img_backbone.which == 'teacher'
    head = model.pts_bbox_head
    assert head.in_channels == head.embed_dims == WIDTH[arch]  # hidden dims 384 / 768
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
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 2
    assert cfg.train_cfg.max_epochs == 20
    # Cyclic: lr up to 10 x over 8 epochs, down to 1e-4 x over the last 12; momentum 0.85 -> 1.0.
    cosine = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingLR']
    assert [(s.begin, s.end, s.eta_min) for s in cosine] == [(0, 8, pytest.approx(3e-3)),
                                                             (8, 20, pytest.approx(3e-8))]
    momentum = [s for s in cfg.param_scheduler if s.type == 'CosineAnnealingMomentum']
    assert [s.eta_min for s in momentum] == [0.85, 1.0]
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
    assert cfg.model.pts_bbox_head.in_channels == 1024 and cfg.model.pts_bbox_head.embed_dims == 256
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['img_backbone'].lr_mult == 0.1
    assert 'checkpoint' not in cfg.model.img_backbone
