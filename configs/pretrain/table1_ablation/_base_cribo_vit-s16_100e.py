# Table 1 ablation ladder: every entry is CrIBo (Table 6, ViT-S/16) pre-trained for 100 epochs, with only
# the factors of its Table 1 row changed (semantic clustering, number of spatial clusters, Sinkhorn
# iterations, depth weight). The queue keeps the objects of CrIBo's 25000 images, except in the rows with
# 128 spatial clusters, which keep S3PT's 2500 (Table 7): the queue buffer holds images x clusters objects
# of 384 floats per view (CrIBo allocates the same) plus their bfloat16 search keys, i.e. 3.7 GB at 32
# clusters, 7.4 GB at 64 and 14.7 GB at 128 clusters with 25000 images, against 1.5 GB at 128 clusters with
# 2500. The paper gives no queue size
# per row; its final row (128 clusters, 1 iteration, depth 4) is S3PT at 100 epochs, whose queue is 2500.
# Our reading, chosen for memory: it changes L^o_ci's pool of neighbours between rows 05 and 06.
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
