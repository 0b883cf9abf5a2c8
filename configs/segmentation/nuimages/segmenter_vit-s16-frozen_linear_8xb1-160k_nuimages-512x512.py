# Paper Table 2, nuImages, Linear Probing: Segmenter linear decoder (linear probing) on a frozen pre-trained ViT-S/16;
# nuImages in the ADE20K configuration (512x512 crops), 160k iterations, 8 GPUs x 1 image.
#   bash tools/dist_train.sh THIS_CONFIG 8 --cfg-options model.backbone.checkpoint=PRETRAINING_CKPT
_base_ = ['../_base_/segmenter_frozen-vit-s16_linear.py', '../_base_/nuimages_512x512.py']
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=13),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
train_dataloader = dict(batch_size=1)
