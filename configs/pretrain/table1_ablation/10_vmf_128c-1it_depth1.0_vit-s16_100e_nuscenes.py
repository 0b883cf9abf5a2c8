# Table 1: + depth-guided spatial clustering. Clusters 128, vMF yes, SK iters 1, depth weight 1.0.
_base_ = ['./_base_cribo_vit-s16_100e.py']
model = dict(
    global_loss={{_base_.vmf_softmax_loss}},
    object_loss={{_base_.vmf_softmax_loss}},
    clustering=dict(num_clusters=128, num_iters=1, depth_alpha=1.0),
    queue_size=2500,  # 128 clusters: S3PT's queue (see _base_cribo_vit-s16_100e.py)
)
# the depth term needs the depth maps
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline_with_depth}}))
