# CrIBo ViT-S/16 (cribo_vit-s16_8xb32-500e_nuscenes.py) with the views rendered on the GPU, as
# s3pt_vit-s16_8xb32-500e_nuscenes_device-views.py (no depth maps: CrIBo's clustering has no depth term).
_base_ = './cribo_vit-s16_8xb32-500e_nuscenes.py'
views = dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[{{_base_.view_1}}, {{_base_.view_2}}],
             render='device')
train_dataloader = dict(
    num_workers=8,
    dataset=dict(pipeline=[{{_base_.load_image}}, views, dict(type='PackMultiViewInputs')]))
model = dict(data_preprocessor=dict(type='DeferredViewsDataPreprocessor'))
