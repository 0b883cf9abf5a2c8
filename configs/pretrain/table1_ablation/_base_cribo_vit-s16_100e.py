# Table 1 ablation ladder: every entry is CrIBo (Table 6, ViT-S/16) pre-trained for 100 epochs, with only
# the factors of its Table 1 row changed (semantic clustering, number of spatial clusters, Sinkhorn
# iterations, depth weight). The queue stays at CrIBo's 25000 images throughout.
_base_ = ['../cribo_vit-s16_8xb32-500e_nuscenes.py']
max_epochs = 100
warmup_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
