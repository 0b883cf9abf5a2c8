# Supervised reference (paper Table 4, first row) as a runnable substitute.
# The paper's reference is the authors' public PETR with a VoVNet-99 (V2-99) backbone pre-trained on
# DDAD15M and trained on nuScenes (not part of mmdetection3d 1.4). Here: the same head, data and schedule
# on an ImageNet-supervised ResNet-50 that is fine-tuned (learning rate x 0.1, batch-norm statistics
# frozen, as PETR trains its backbone). Its stride-16 stage (C4, 1024 channels) feeds the head like
# the ViT's stride-16 map, projected to the transformer's 256 channels as in every config here. The
# ImageNet weights are downloaded from torchvision on first use.
_base_ = ['./_base_/petr_frozen_vit.py', './_base_/schedule_cyclic-20e.py', './_base_/default_runtime.py']
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='mmdet.ResNet',
        depth=50,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    pts_bbox_head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.1)}))
