# CrIBo (paper Table 6), ViT-S/16, 500 epochs on nuScenes: Eq. 1 with DINO softmax + logit centering,
# 32 spatial clusters, 5 Sinkhorn iterations, no depth, queue of 25000 images.
_base_ = [
    './_base_/models.py', './_base_/nuscenes_pretrain.py', './_base_/schedule_vit-s16_500e.py',
    './_base_/default_runtime.py'
]
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_s16}},
    head={{_base_.dino_head}},
    global_loss={{_base_.dino_softmax_loss}},
    object_loss={{_base_.dino_softmax_loss}},
    clustering={{_base_.cribo_clustering}},
    queue_size=25000,
)
