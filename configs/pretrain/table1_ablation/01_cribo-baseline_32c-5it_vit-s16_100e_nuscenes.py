# Table 1: CrIBo baseline. Clusters 32, vMF no, SK iters 5, depth weight -.
_base_ = ['./_base_cribo_vit-s16_100e.py']
model = dict(
    global_loss={{_base_.dino_softmax_loss}},
    object_loss={{_base_.dino_softmax_loss}},
    clustering=dict(num_clusters=32, num_iters=5, depth_alpha=0.0),
)
