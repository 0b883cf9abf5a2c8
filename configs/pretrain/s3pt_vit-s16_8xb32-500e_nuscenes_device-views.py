# S3PT ViT-S/16 (s3pt_vit-s16_8xb32-500e_nuscenes.py) with the views rendered on the GPU (docs/data_pipeline.md,
# "Views rendered on the GPU"): the workers read the files, draw every augmentation and compute the token
# geometry; DeferredViewsDataPreprocessor decodes the JPEGs on the GPU (nvJPEG) and computes the crops, flips,
# colour jitter, grayscale, blur and solarization of the whole batch there. Same views as the CPU path within
# the bounds in tests/test_models/test_view_rendering.py; same random draws, so the same token geometry.
_base_ = './s3pt_vit-s16_8xb32-500e_nuscenes.py'
views = dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[{{_base_.view_1}}, {{_base_.view_2}}],
             render='device')
train_dataloader = dict(
    num_workers=8,  # about 6 ms of worker CPU per image (tools/benchmark.py --only pipeline)
    dataset=dict(pipeline=[{{_base_.load_image}}, {{_base_.load_depth}}, views, dict(type='PackMultiViewInputs')]))
model = dict(data_preprocessor=dict(type='DeferredViewsDataPreprocessor'))
