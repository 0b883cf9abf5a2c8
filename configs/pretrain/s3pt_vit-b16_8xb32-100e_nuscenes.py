# S3PT (paper Table 7), ViT-B/16, 100 epochs on nuScenes: the method of
# s3pt_vit-s16_8xb32-500e_nuscenes.py with the ViT-Base/16 column (global crops scale [0.32, 1.0]).
_base_ = [
    './_base_/models.py', './_base_/nuscenes_pretrain_crops032.py', './_base_/schedule_vit-b16_100e.py',
    './_base_/default_runtime.py'
]
model = dict(
    type='S3PT',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone={{_base_.vit_b16}},
    head=dict(type='DINOProjectionHead', in_channels=768, num_prototypes=65536,
              hidden_channels=2048, bottleneck_channels=256, num_layers=3, norm_last_layer=False),
    global_loss={{_base_.vmf_softmax_loss}},
    object_loss={{_base_.vmf_softmax_loss}},
    clustering={{_base_.s3pt_clustering}},
    queue_size=2500,
)
# the depth term needs the depth maps
train_dataloader = dict(dataset=dict(pipeline={{_base_.train_pipeline_with_depth}}))
