# Segmenter's linear decoder on a frozen pre-trained ViT-B/16 (mmpretrain deit-base, 768 wide).
_base_ = './segmenter_frozen-vit-s16_linear.py'
model = dict(
    backbone=dict(arch='deit-base'),
    decode_head=dict(in_channels=768, channels=768))
