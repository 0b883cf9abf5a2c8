# Optimisation of paper Tables 5-7, ViT-Base/16 column (batch 256 = 8 GPUs x 32).
max_epochs = 100
warmup_epochs = 10
base_lr = 7.5e-4  # at batch size 256; `--auto-scale-lr` applies DINO's linear scaling rule
min_lr = 2e-6
weight_decay = 0.04  # cosine 0.04 -> 0.4
weight_decay_end = 0.4

optim_wrapper = dict(
    type='DINOAmpOptimWrapper',  # fp16: 1, with DINO's gradient rules (docs/mixed_precision.md)
    loss_scale='dynamic',
    dtype='float16',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=weight_decay),
    # DINO / CrIBo rule: no decay for biases and 1-D tensors; prototype magnitudes (K, 1) decay.
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    # gradient clip: 0.3, as DINO's / CrIBo's clip_gradients: EACH parameter tensor's gradient to norm
    # 0.3 (mmengine's default clip_grad=dict(max_norm=0.3) would clip the global norm of all of them).
    clip_grad=dict(type='per_tensor', max_norm=0.3),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=min_lr, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
         eta_min_ratio=weight_decay_end / weight_decay, T_max=max_epochs, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [
    dict(type='TeacherEMAHook', momentum=0.996, end_momentum=1.0),
    dict(type='TeacherTempWarmupHook', start=0.04, end=0.07, warmup_epochs=50),
    dict(type='FreezePrototypesHook', freeze_epochs=3),
    dict(type='ModelEpochHook'),  # the epoch for the start of L^o_ci
    dict(type='NonFiniteCheckHook'),  # a NaN/Inf stops training, naming it and the last checkpoint
    dict(type='IterationSeedHook'),  # random numbers seeded by iteration: resume is exact
    dict(type='CollapseMonitorHook', interval=100, min_kl=0.01, patience=5, start_iter=2000),
]
