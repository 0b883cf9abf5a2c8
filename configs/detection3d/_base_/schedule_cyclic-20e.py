# Paper Table 8: AdamW, learning rate 3e-4, weight decay 0.01, gradient clip 35, 1 warm-up epoch, and
# mmdetection3d's cyclic-20e schedule (appendix A.2.2): the learning rate rises along a cosine from lr to
# 10 lr over the first 8 epochs and falls to 1e-4 lr over the last 12; the momentum (AdamW's beta1)
# follows the opposite cycle, down to 0.85 and up to 1.0 (Table 8: 0.85 -> 1.0). The linear warm-up
# (factor 1/3 -> 1 over epoch 1, as PETR's warm-up) multiplies the first epoch of the cycle.
lr = 3e-4
max_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    # Leaves requires_grad=False parameters (the frozen backbone) out of the optimizer.
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, end_factor=1.0, begin=0, end=1, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=8, eta_min=lr * 10, begin=0, end=8, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=12, eta_min=lr * 1e-4, begin=8, end=20, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=8, eta_min=0.85, begin=0, end=8, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=12, eta_min=1.0, begin=8, end=20, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Table 8: batch size 2 (the learning rate above is for it; --auto-scale-lr scales it linearly).
auto_scale_lr = dict(enable=False, base_batch_size=2)
