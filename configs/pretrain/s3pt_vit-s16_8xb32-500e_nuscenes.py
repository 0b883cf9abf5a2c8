# S3PT (paper Table 7), ViT-S/16, 500 epochs on nuScenes: Eq. 1 with the vMF-normalised softmax (Eq. 2)
# and centering in probability space, 128 spatial clusters, 1 Sinkhorn iteration, depth term
# beta = 4.0 (T = T_CrIBo + beta |d_i - d_j|), queue of 2500 images.
_base_ = [
    './_base_/models.py', './_base_/nuscenes_pretrain.py', './_base_/schedule_vit-s16_500e.py',
    './_base_/default_runtime.py'
]
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_s16}},
    head={{_base_.dino_head}},
    global_loss={{_base_.vmf_softmax_loss}},
    object_loss={{_base_.vmf_softmax_loss}},
    clustering={{_base_.s3pt_clustering}},
    queue_size=2500,
)
# the depth term needs the depth maps
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline_with_depth}}))
