# Paper Table 3, nuI -> CS, Mask Transformer: the model of
# ../nuimages/segmenter_vit-s16-frozen_mask_8xb1-160k_nuimages-512x512.py (frozen ViT-S/16, head trained
# on nuImages) tested on Cityscapes val
# at Cityscapes' test resolution (mmseg's cityscapes_768x768 test pipeline: 2048 x 1024), sliding the model's
# own 512 x 512 window (stride 480). mIoU: over all 19 Cityscapes classes (the headline, Table 3); mIoU_shared:
# over the 8 classes both label sets share (s3pt_mm/seg/classes.py, docs/segmentation.md).
#   python tools/test.py THIS_CONFIG work_dirs/<nuimages run>/iter_160000.pth
_base_ = ['../_base_/segmenter_frozen-vit-s16_mask.py', '../_base_/cityscapes_768x768.py']
# the nuImages model, exactly as trained
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    decode_head=dict(num_classes=13),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(480, 480)))
test_evaluator = dict(type='DomainTransferIoUMetric', source='nuimages', target='cityscapes')
