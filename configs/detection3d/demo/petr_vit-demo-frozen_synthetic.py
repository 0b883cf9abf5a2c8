# PETR at demo size on the synthetic nuScenes data (tools/make_synthetic_data.py, default 180 x 320 images),
# on the frozen demo ViT of configs/demo/*_vit-demo_synthetic.py (4 layers, 192 wide, patch 16):
#   python tools/train.py configs/detection3d/demo/petr_vit-demo-frozen_synthetic.py \
#       --cfg-options model.img_backbone.checkpoint=work_dirs/s3pt_vit-demo_synthetic/epoch_40.pth
# The paper's recipe (Table 8) scaled down: 96 x 240 inputs (the 0.47-0.625 resize of 900 x 1600 images
# becomes 0.705-0.94 of 180 x 320), 100 queries, 3 decoder layers, 16 depth bins, 12 epochs.
_base_ = ['../petr_vit-s16-frozen_gridmask_cyclic-20e_nus-800x320.py']
data_root = 'data/demo/nuscenes/'
img_size = (96, 240)
vit_width = 192
max_epochs = 12
model = dict(
    img_backbone=dict(
        arch=dict(_delete_=True, embed_dims=vit_width, num_layers=4, num_heads=3, feedforward_channels=768),
        img_size=img_size),
    pts_bbox_head=dict(
        in_channels=vit_width,
        embed_dims=vit_width,  # the transformer scaled down with the ViT (the paper's configs: 256)
        num_query=100,
        decoder=dict(num_layers=3, feedforward_channels=512),
        position_embedding=dict(depth_num=16)))
metainfo = dict(classes={{_base_.class_names}}, version='v1.0-mini')
train_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='ObjectRangeFilter', point_cloud_range={{_base_.point_cloud_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='MultiViewResizeCropFlip', final_size=img_size, resize_range=(0.705, 0.94), flip_prob=0.5),
    dict(type='MultiViewGlobalRotScale', rot_range=(-0.3925, 0.3925), scale_range=(0.95, 1.05)),
    dict(type='Pack3DDetInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6),
    dict(type='MultiViewResizeCropFlip', final_size=img_size, test_mode=True),
    dict(type='Pack3DDetInputs', keys=['img'])
]
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, begin=0, end=1, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=5, eta_min=3e-3, begin=0, end=5, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, eta_min=3e-8, begin=5, end=12, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=5, eta_min=0.85 / 0.95, begin=0, end=5, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=7, eta_min=1.0, begin=5, end=12, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
