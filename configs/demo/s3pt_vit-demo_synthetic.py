# S3PT at demo size: vMF + probability centering, 16 spatial clusters (of 72 tokens), 1 Sinkhorn
# iteration, depth weight 4, queue 100 images.
_base_ = ['./_base_demo_pretrain.py']
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_demo}},
    head={{_base_.demo_head}},
    global_loss={{_base_.vmf_demo_loss}},
    object_loss={{_base_.vmf_demo_loss}},
    clustering=dict(type='SinkhornSpatialClustering', num_clusters=16, num_iters=1, sinkhorn_lambda=20.0,
                    pos_alpha=1.0, depth_alpha=4.0),
    queue_size=100,
)
