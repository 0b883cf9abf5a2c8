# nuScenes camera images (all 6 cameras of every keyframe) with IP-Basic dense depth from LIDAR_TOP,
# as written by tools/create_data.py. Two global crops per image (DINO/CrIBo recipe, paper Tables 5-7):
# the depth map follows every geometric transform (nearest neighbour) and each view carries the
# position and depth of each ViT patch token for the spatial clustering.
# At a GPU's pace (docs/data_pipeline.md): the JPEG is decoded once, at 1/2 size when every crop shrinks
# at least 2x (LoadImageForCrops), the depth map is read inside each crop only (upsample=False), the views
# are resampled from the shared frame without copies, and the jitter and blur are mmpretrain's with
# cheaper pixel arithmetic (FastColorJitter, FastGaussianBlur; same random parameters).
dataset_type = 'NuScenesPretrainDataset'
data_root = 'data/nuscenes/'
# Storage backend of the info file, images and depth maps (mmengine.fileio), e.g. data in object storage:
# backend_args = dict(backend='petrel', path_mapping=dict({'data/nuscenes/': 's3://nuscenes/'}))
backend_args = None
global_crops_scale = (0.25, 1.0)  # Tables 5-7 ViT-S; ViT-B CrIBo/S3PT: (0.32, 1.0)
patch_size = 16

color_jitter = dict(
    type='RandomApply',
    transforms=[dict(type='FastColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)],
    prob=0.8)
grayscale = dict(type='DeferrableGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
blur_view_1 = dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0)
blur_view_2 = dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1)
solarize = dict(type='DeferrableSolarize', thr=128, prob=0.2)
token_geometry = dict(type='TokenGeometry', patch_size=patch_size)
geometric = [
    dict(type='RandomResizedCropWithDepth', size=224, scale=global_crops_scale, interpolation='bicubic'),
    dict(type='RandomFlipWithDepth', prob=0.5),
]
view_1 = geometric + [color_jitter, grayscale, blur_view_1, token_geometry]
view_2 = geometric + [color_jitter, grayscale, blur_view_2, solarize, token_geometry]
load_image = dict(type='LoadImageForCrops', backend_args=backend_args)
load_depth = dict(type='LoadDepthFromFile', upsample=False, backend_args=backend_args)
views = dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[view_1, view_2])
# The depth maps are read only where the spatial clustering has a depth term (S3PT, Table 1 rows 09-11:
# train_pipeline_with_depth); DINO and CrIBo (depth_alpha=0) skip them (3 ms of PNG decoding per image).
train_pipeline = [load_image, views, dict(type='PackMultiViewInputs')]
train_pipeline_with_depth = [load_image, load_depth, views, dict(type='PackMultiViewInputs')]
train_dataloader = dict(
    batch_size=32,
    # per GPU: the cores a GPU gets on an 8-GPU node of 128 cores, less two for the trainer process
    # (tools/slurm_train.sh: CPUS_PER_TASK=16). One worker makes 45 S3PT images/s of 900x1600 frames
    # (docs/data_pipeline.md); a GPU at full speed takes more than 14 of them feed.
    num_workers=14,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='s3pt_infos_pretrain_train.pkl',
        pipeline=train_pipeline,
        backend_args=backend_args),
)
