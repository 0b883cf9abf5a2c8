# DINO (paper Table 5), ViT-B/16, 100 epochs on nuScenes: the method of
# dino_vit-s16_8xb32-500e_nuscenes.py with the ViT-Base/16 column (global crops scale [0.25, 1.0]).
_base_ = [
    './_base_/models.py', './_base_/nuscenes_pretrain_multicrop.py', './_base_/schedule_vit-b16_100e.py',
    './_base_/default_runtime.py'
]
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_b16}},
    head=dict(type='DINOProjectionHead', in_channels=768, num_prototypes=65536, num_object_prototypes=0,
              hidden_channels=2048, bottleneck_channels=256, num_layers=3, norm_last_layer=True),
    global_loss={{_base_.dino_softmax_loss}},
)
