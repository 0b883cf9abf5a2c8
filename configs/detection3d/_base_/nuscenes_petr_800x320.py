# nuScenes multi-view camera data for PETR: 6 cameras at 320 x 800 (Table 8), PETR's augmentations.
# Info files: tools/create_data.py (s3pt_mm.converters.create_nuscenes_det3d_infos), mmdet3d 1.4 format.
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian',
    'traffic_cone', 'barrier'
]
# The evaluation reads `version` (v1.0-mini for the mini split) from here.
metainfo = dict(classes=class_names, version='v1.0-trainval')
input_modality = dict(use_lidar=False, use_camera=True)
data_prefix = dict(
    pts='samples/LIDAR_TOP',
    sweeps='sweeps/LIDAR_TOP',
    CAM_FRONT='samples/CAM_FRONT',
    CAM_FRONT_RIGHT='samples/CAM_FRONT_RIGHT',
    CAM_FRONT_LEFT='samples/CAM_FRONT_LEFT',
    CAM_BACK='samples/CAM_BACK',
    CAM_BACK_LEFT='samples/CAM_BACK_LEFT',
    CAM_BACK_RIGHT='samples/CAM_BACK_RIGHT')
backend_args = None
# BEV range of the ground truths and of the head's reference points: grid size [512, 512, 1] x voxel
# size [0.2, 0.2, 8] m (Table 8) = 102.4 m x 102.4 m x 8 m around the LiDAR.
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
img_size = (320, 800)  # (height, width), Table 8

train_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6, backend_args=backend_args),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    # PETR: resize 0.47-0.625 of 900 x 1600, keep the bottom 320 rows, random horizontal flip.
    dict(type='MultiViewResizeCropFlip', final_size=img_size, resize_range=(0.47, 0.625),
         bottom_range=(0.0, 0.0), flip_prob=0.5),
    dict(type='MultiViewGlobalRotScale', rot_range=(-0.3925, 0.3925), scale_range=(0.95, 1.05)),
    dict(type='Pack3DDetInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'])
]
test_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', to_float32=True, num_views=6, backend_args=backend_args),
    dict(type='MultiViewResizeCropFlip', final_size=img_size, bottom_range=(0.0, 0.0), test_mode=True),
    dict(type='Pack3DDetInputs', keys=['img'])
]

train_dataloader = dict(
    batch_size=2,  # Table 8
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        data_prefix=data_prefix,
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        box_type_3d='LiDAR',
        use_valid_flag=True,
        test_mode=False,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        data_prefix=data_prefix,
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        box_type_3d='LiDAR',
        test_mode=True,
        backend_args=backend_args))
test_dataloader = val_dataloader
# Official nuScenes detection evaluation (devkit DetectionEval): mAP, NDS, per-class AP and TP errors.
# Set jsonfile_prefix to keep results_nusc.json for tools/eval_distance_bins.py.
val_evaluator = dict(
    type='NuScenesMetric',
    data_root=data_root,
    ann_file=data_root + 'nuscenes_infos_val.pkl',
    metric='bbox',
    modality=input_modality,
    backend_args=backend_args)
test_evaluator = val_evaluator
