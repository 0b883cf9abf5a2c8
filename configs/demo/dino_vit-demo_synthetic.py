# DINO at demo size: global cross-view term only, DINO softmax + logit centering.
_base_ = ['./_base_demo_pretrain.py']
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_demo}},
    head={{_base_.demo_head_global_only}},
    global_loss={{_base_.dino_demo_loss}},
)
