# Cityscapes in mmseg's cityscapes_768x768 configuration (paper A.2.1), data in data/cityscapes
# (leftImg8bit/ and gtFine/ with *_gtFine_labelTrainIds.png from mmseg's tools/dataset_converters/cityscapes.py,
# see docs/data.md, "Cityscapes"). 19 classes, 255 ignored; test = val (the test labels are not public).
_base_ = 'mmseg::_base_/datasets/cityscapes_768x768.py'
# mmseg's IoUMetric, also returning each class's IoU (IoU.<class>) into the JSON logs
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
