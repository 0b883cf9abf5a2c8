# nuImages semantic segmentation in mmseg's ADE20K dataset configuration (paper A.2.1: "For nuImages, we use
# the same dataset configuration setup as the publicly available ade20k dataset configuration"):
# mmseg's _base_/datasets/ade20k.py with the nuImages files and classes. Labels and split files come from
#   python tools/dataset_converters/nuimages_seg.py data/nuimages
# 13 classes (s3pt_mm/seg/classes.py): background, driveable surface, car, truck, trailer, bus, construction
# vehicle, bicycle, motorcycle, pedestrian, traffic cone, barrier, ego vehicle; 255 ignored. 13, not 12: the
# paper's Table 9 "Overall" is only consistent with a 13-class mean (docs/segmentation.md); the 12-class
# variant (ego vehicle ignored) is ./nuimages_12classes.py. Unlike ADE20K's label 0, the background is a
# class, so reduce_zero_label is False. nuImages has no test annotations: test = val.
dataset_type = 'NuImagesSegDataset'
data_root = 'data/nuimages/'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # annotations are loaded after Resize: the prediction is resized back to the original label
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')]
        ])
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semantic_splits/train.txt',
        data_prefix=dict(img_path='', seg_map_path='semantic_labels'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='semantic_splits/val.txt',
        data_prefix=dict(img_path='', seg_map_path='semantic_labels'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mmseg's IoUMetric, also returning each class's IoU (IoU.<class>) into the JSON logs
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
