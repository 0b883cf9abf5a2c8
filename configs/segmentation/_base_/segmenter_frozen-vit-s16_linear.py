# Segmenter's linear decoder ("linear probing", paper A.2.1) on a frozen pre-trained ViT-S/16: a 1x1
# convolution from the 16x16-patch tokens to the classes, bilinearly upsampled to the image; the head of
# mmseg's segmenter/segmenter_vit-s_fcn_8xb1-160k_ade20k-512x512.py.
_base_ = './segmenter_frozen-vit-s16_mask.py'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=384,
        channels=384,
        num_convs=0,
        dropout_ratio=0.0,
        concat_input=False,
        num_classes=150,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
