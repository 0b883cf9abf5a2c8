# Demo-sized linear probing (Segmenter linear head) of a frozen demo ViT on the synthetic nuImages data
# (tools/demo.sh): the protocol of configs/segmentation/nuimages/ (paper A.2.1) with the demo backbone,
# 96x96 crops, a short schedule. The backbone weights: --cfg-options model.backbone.checkpoint=CKPT.
_base_ = [
    '../segmentation/_base_/segmenter_frozen-vit-s16_linear.py', '../segmentation/_base_/nuimages_512x512.py'
]
data_root = 'data/demo/nuimages/'
crop_size = (96, 96)
max_iters = 600
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
                  img_size=96, patch_size=16, drop_path_rate=0.0),
    decode_head=dict(in_channels=192, channels=192, num_classes=13),
    test_cfg=dict(mode='whole'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(320, 96), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(192, 96), keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
# a higher rate than the paper's sweep {8e-4, 3e-4, 8e-5}: the demo trains 600, not 160k, iterations
optim_wrapper = dict(optimizer=dict(lr=1e-2))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(by_epoch=False, interval=max_iters))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
