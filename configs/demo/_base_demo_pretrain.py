# Demo-sized pre-training on the synthetic nuScenes data (tools/demo.sh): the paper's recipe (Tables 5-7)
# scaled down so that one method trains in a few minutes on a 2-core CPU. A 4-layer ViT with 16x16
# patches on 96x96 global crops (6 x 6 tokens per view), 2048 prototypes, 40 epochs
# (tools/demo.py --pretrain-epochs E rescales the schedules below to E epochs).
_base_ = [
    '../pretrain/_base_/models.py', '../pretrain/_base_/nuscenes_pretrain.py',
    '../pretrain/_base_/default_runtime.py'
]
data_root = 'data/demo/nuscenes/'
crop_size = 96
num_prototypes = 2048
max_epochs = 40
vit_demo = dict(type='DINOVisionTransformer', arch=dict(embed_dims=192, num_layers=4, num_heads=3,
                                                        feedforward_channels=768),
                img_size=crop_size, patch_size=16, drop_path_rate=0.1, out_type='raw')
demo_head = dict(type='DINOProjectionHead', in_channels=192, num_prototypes=num_prototypes,
                 hidden_channels=512, bottleneck_channels=128, num_layers=3, norm_last_layer=False)
demo_head_global_only = dict(demo_head, num_object_prototypes=0)
dino_demo_loss = dict(type='DINOLoss', out_channels=num_prototypes, student_temp=0.1, teacher_temp=0.04,
                      center_momentum=0.9, vmf=False, centering='logit')
vmf_demo_loss = dict(dino_demo_loss, vmf=True, centering='probability', bottleneck_channels=128)
# Views: depth-aware crops of scale [0.6, 1] (the paper: [0.25, 1] / [0.32, 1]) and flips, WITHOUT the
# paper's photometric augmentations (colour jitter, grayscale, blur, solarize). The synthetic scenes differ
# from each other mostly by colours and layout; with those augmentations on 96x96 crops the two views of an
# image share too little for the global term, and the teachers collapsed to a uniform output within 40
# iterations (loss_global -> log K, [CLS] embeddings of different images at cosine 0.99). Measured over
# 10 epochs: paper augmentations, crops [0.25, 1] or [0.6, 1]: collapse; no colour jitter: borderline;
# crops [0.6, 1] and no photometric augmentation: loss_global falls steadily, embeddings stay diverse.
view = [
    dict(type='RandomResizedCropWithDepth', size=crop_size, scale=(0.6, 1.0), interpolation='bicubic'),
    dict(type='RandomFlipWithDepth', prob=0.5),
    {{_base_.token_geometry}},
]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadDepthFromFile', backend_args={{_base_.backend_args}}),
    dict(type='MultiViewWithDepth', num_views=[2], transforms=[view]),
    dict(type='PackMultiViewInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=2, persistent_workers=True, pin_memory=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
optim_wrapper = dict(
    type='DINOOptimWrapper',  # DINO's gradient rules (frozen last layer) on a CPU
    optimizer=dict(type='AdamW', lr=5e-4 * 16 / 256 * 4, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),  # DINO's rule (see the paper configs)
    clip_grad=dict(max_norm=3.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 2, eta_min=1e-5, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(type='TeacherEMAHook', momentum=0.99, end_momentum=1.0),
    dict(type='TeacherTempWarmupHook', start=0.04, end=0.07, warmup_epochs=5),
    dict(type='FreezePrototypesHook', freeze_epochs=1),
    dict(type='ModelEpochHook'),
    dict(type='NonFiniteCheckHook'),
    dict(type='IterationSeedHook'),
    dict(type='CollapseMonitorHook', interval=5, min_kl=0.01, patience=0),  # logs only
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
