# CrIBo at demo size: DINO softmax + logit centering, 4 spatial clusters (CrIBo's 32 of 392 tokens,
# scaled to 72 tokens), 5 Sinkhorn iterations, no depth, queue 1000 images.
_base_ = ['./_base_demo_pretrain.py']
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_demo}},
    head={{_base_.demo_head}},
    global_loss={{_base_.dino_demo_loss}},
    object_loss={{_base_.dino_demo_loss}},
    clustering=dict(type='SinkhornSpatialClustering', num_clusters=4, num_iters=5, sinkhorn_lambda=20.0,
                    pos_alpha=1.0, depth_alpha=0.0),
    queue_size=1000,
)
