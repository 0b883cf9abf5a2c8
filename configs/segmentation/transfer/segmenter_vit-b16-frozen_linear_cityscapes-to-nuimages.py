# Paper Table 3, CS -> nuI, Linear Probing: the model of
# ../cityscapes/segmenter_vit-b16-frozen_linear_8xb1-160k_cityscapes-768x768.py (frozen ViT-B/16, head
# trained on Cityscapes) tested on nuImages val; IoU over the classes both label sets share
# (s3pt_mm/seg/classes.py).
#   python tools/test.py THIS_CONFIG work_dirs/<cityscapes run>/iter_160000.pth
_base_ = ['../_base_/segmenter_frozen-vit-b16_linear.py', '../_base_/nuimages_512x512.py']
# the Cityscapes model, exactly as trained
model = dict(
    data_preprocessor=dict(size=(768, 768)),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=(768, 768), stride=(512, 512)))
test_evaluator = dict(type='DomainTransferIoUMetric', source='cityscapes', target='nuimages')
