# DINO (paper Table 5), ViT-S/16, 500 epochs on nuScenes: global cross-view term of Eq. 1 only (2 global
# + 10 local crops),
# DINO softmax with centering of logits. Run: tools/train.py configs/pretrain/<this file>
_base_ = [
    './_base_/models.py', './_base_/nuscenes_pretrain_multicrop.py', './_base_/schedule_vit-s16_500e.py',
    './_base_/default_runtime.py'
]
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_s16}},
    head=dict(type='DINOProjectionHead', in_channels=384, num_prototypes=65536, num_object_prototypes=0,
              hidden_channels=2048, bottleneck_channels=256, num_layers=3, norm_last_layer=False),
    global_loss={{_base_.dino_softmax_loss}},
)
