# Paper Table 3, CS -> nuI, Linear Probing: the model of
# ../cityscapes/segmenter_vit-s16-frozen_linear_8xb1-160k_cityscapes-768x768.py (frozen ViT-S/16, head
# trained on Cityscapes) tested on nuImages val
# at nuImages' test resolution (the ADE20K-style test pipeline: resized into 2048 x 512, so 1600 x 900 images
# become 910 x 512), sliding the model's own 768 x 768 window (stride 512). mIoU: over all 13 nuImages classes
# (the headline, Table 3); mIoU_shared: over the 8 classes both label sets share (s3pt_mm/seg/classes.py,
# docs/segmentation.md).
#   python tools/test.py THIS_CONFIG work_dirs/<cityscapes run>/iter_160000.pth
_base_ = ['../_base_/segmenter_frozen-vit-s16_linear.py', '../_base_/nuimages_512x512.py']
# the Cityscapes model, exactly as trained
model = dict(
    data_preprocessor=dict(size=(768, 768)),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=(768, 768), stride=(512, 512)))
test_evaluator = dict(type='DomainTransferIoUMetric', source='cityscapes', target='nuimages')
