# nuscenes_pretrain.py plus DINO's multi-crop (Table 5): 10 local crops of 96x96 with scale [0.05, 0.25],
# seen by the student only (global term of Eq. 1).
_base_ = './nuscenes_pretrain.py'
local_crops_number = 10
local_crops_scale = (0.05, 0.25)
local_view = [
    dict(type='RandomResizedCropWithDepth', size=96, scale=local_crops_scale, interpolation='bicubic'),
    dict(type='RandomFlipWithDepth', prob=0.5),
    {{_base_.color_jitter}},
    {{_base_.grayscale}},
    dict(type='FastGaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
# no depth maps: DINO's loss has no spatial clustering
train_pipeline = [
    {{_base_.load_image}},
    dict(type='MultiViewWithDepth', num_views=[1, 1, local_crops_number],
         transforms=[{{_base_.view_1}}, {{_base_.view_2}}, local_view]),
    dict(type='PackMultiViewInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
