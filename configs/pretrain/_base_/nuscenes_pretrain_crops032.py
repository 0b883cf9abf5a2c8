# nuscenes_pretrain.py with global crop scale [0.32, 1.0] (CrIBo / S3PT ViT-Base/16, Tables 6-7).
_base_ = './nuscenes_pretrain.py'
global_crops_scale = (0.32, 1.0)
geometric = [
    dict(type='RandomResizedCropWithDepth', size=224, scale=global_crops_scale, interpolation='bicubic'),
    dict(type='RandomFlipWithDepth', prob=0.5),
]
view_1 = geometric + [{{_base_.color_jitter}}, {{_base_.grayscale}}, {{_base_.blur_view_1}},
                      {{_base_.token_geometry}}]
view_2 = geometric + [{{_base_.color_jitter}}, {{_base_.grayscale}}, {{_base_.blur_view_2}},
                      {{_base_.solarize}}, {{_base_.token_geometry}}]
views = dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[view_1, view_2])
train_pipeline = [{{_base_.load_image}}, views, dict(type='PackMultiViewInputs')]
train_pipeline_with_depth = [{{_base_.load_image}}, {{_base_.load_depth}}, views, dict(type='PackMultiViewInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
