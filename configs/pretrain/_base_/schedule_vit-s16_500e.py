# Optimisation of paper Tables 5-7, ViT-Small/16 column (batch 256 = 8 GPUs x 32).
max_epochs = 500
warmup_epochs = 10
base_lr = 5e-4  # at batch size 256; `--auto-scale-lr` applies DINO's linear scaling rule
min_lr = 1e-5
weight_decay = 0.04  # cosine 0.04 -> 0.4
weight_decay_end = 0.4

optim_wrapper = dict(
    # fp16: 1. DINO's gradient rules (frozen last layer; per-tensor clipping where used) with dynamic loss
    # scaling; which quantities stay float32 under autocast: docs/mixed_precision.md. dtype='bfloat16' also
    # works (A100/H100); on a CPU this wrapper uses torch's CPU loss scaler (fp16 products are slow there).
    type='DINOAmpOptimWrapper',
    loss_scale='dynamic',
    dtype='float16',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=weight_decay),
    # DINO / CrIBo (get_params_groups): no decay for biases and 1-D tensors (norm layers). Everything
    # else decays, the [CLS] token, position embedding and prototype magnitudes (weight_g, shape (K, 1))
    # included; under vMF ||W_k|| / tau is the concentration, and this decay bounds it.
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=None,  # gradient clip: -
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
    dict(type='TeacherEMAHook', momentum=0.996, end_momentum=1.0),  # momentum 0.996 -> 1.0
    dict(type='TeacherTempWarmupHook', start=0.04, end=0.07, warmup_epochs=30),  # teacher temp.
    dict(type='FreezePrototypesHook', freeze_epochs=1),  # freeze last layer epochs
    dict(type='ModelEpochHook'),  # the epoch for the start of L^o_ci
    dict(type='NonFiniteCheckHook'),  # a NaN/Inf stops training, naming it and the last checkpoint
    dict(type='IterationSeedHook'),  # random numbers seeded by iteration: resume is exact
    # Teacher entropy / KL to the batch mean / prototypes in use; stops after 5 collapsed checks in a row
    # past the first 2 epochs' worth of iterations (~1000 at batch 256 on nuScenes' 168k camera images).
    dict(type='CollapseMonitorHook', interval=100, min_kl=0.01, patience=5, start_iter=2000),
]
