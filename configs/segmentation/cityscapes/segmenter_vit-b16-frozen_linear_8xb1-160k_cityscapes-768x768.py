# Paper Table 2, Cityscapes, Linear Probing: Segmenter linear decoder (linear probing) on a frozen pre-trained ViT-B/16;
# mmseg's cityscapes_768x768 configuration, 160k iterations, 8 GPUs x 1 image.
#   bash tools/dist_train.sh THIS_CONFIG 8 --cfg-options model.backbone.checkpoint=PRETRAINING_CKPT
_base_ = ['../_base_/segmenter_frozen-vit-b16_linear.py', '../_base_/cityscapes_768x768.py']
crop_size = (768, 768)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(512, 512)))
train_dataloader = dict(batch_size=1)
