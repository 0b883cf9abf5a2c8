# DINO ViT-S/16 (dino_vit-s16_8xb32-500e_nuscenes.py, 2 global + 10 local crops) with the views rendered on the
# GPU, as s3pt_vit-s16_8xb32-500e_nuscenes_device-views.py.
_base_ = './dino_vit-s16_8xb32-500e_nuscenes.py'
views = dict(type='MultiViewWithDepth', num_views=[1, 1, {{_base_.local_crops_number}}],
             transforms=[{{_base_.view_1}}, {{_base_.view_2}}, {{_base_.local_view}}], render='device')
train_dataloader = dict(
    num_workers=8,
    dataset=dict(pipeline=[{{_base_.load_image}}, views, dict(type='PackMultiViewInputs')]))
model = dict(data_preprocessor=dict(type='DeferredViewsDataPreprocessor'))
