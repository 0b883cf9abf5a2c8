# Segmenter Mask Transformer decoder on a frozen pre-trained ViT-B/16 (mmpretrain deit-base, 768 wide):
# the head of mmseg's segmenter/segmenter_vit-b_mask_8xb1-160k_ade20k-512x512.py.
_base_ = './segmenter_frozen-vit-s16_mask.py'
model = dict(
    backbone=dict(arch='deit-base'),
    decode_head=dict(in_channels=768, channels=768, num_heads=12, embed_dims=768))
