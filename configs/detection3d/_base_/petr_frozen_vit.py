# PETR on a frozen pre-trained ViT (paper appendix A.2.2, Table 8): the ViT's stride-16 feature map feeds
# PETR's head (1x1 projection from the ViT's width to the transformer's 256 channels, 3D position embedding
# with LID depth bins, 6-layer decoder with 8 heads and feed-forward 2048, 900 queries, NMS-free decoding).
# Table 8's "head hidden dim. 384/784 (ViT-S/B)" is read as the head's in_channels, the ViT width
# (784 a typo of 768): mmdetection3d's PETR (projects/PETR), which the paper says it uses, fixes the
# transformer at 256 channels and projects the backbone's channels into it. embed_dims stays configurable.
# The data (and its point_cloud_range, img_size) of nuscenes_petr_800x320.py.
_base_ = ['./nuscenes_petr_800x320.py']
# LiDAR-frame range (metres) of the 3D position embedding and of the decoded box centres (PETR).
position_range = [-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]
vit_width = 384  # ViT width = the head's in_channels (Table 8); the ViT-S / ViT-B configs set it explicitly
embed_dims = 256  # the transformer's width, as mmdetection3d's PETR
model = dict(
    type='PETR',
    # Normalisation of the pre-training (RGB, ImageNet mean / std); padding to a multiple of 32.
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    grid_mask=dict(type='GridMask', use_h=True, use_w=True, ratio=0.5, mode=1, prob=0.7),
    img_backbone=dict(
        type='FrozenPretrainedViT',  # mmpretrain's VisionTransformer, frozen; position embedding resized to
        arch='deit-small',           # the input once, when the pre-trained weights are loaded
        patch_size=16,
        img_size={{_base_.img_size}},
        # The pre-training checkpoint, given on the command line:
        #   --cfg-options model.img_backbone.checkpoint=work_dirs/<pre-training>/epoch_500.pth
        checkpoint=None,
        which='teacher'),
    pts_bbox_head=dict(
        type='PETRHead',
        num_classes=10,
        in_channels=vit_width,
        embed_dims=embed_dims,
        num_query=900,
        decoder=dict(
            type='PETRTransformerDecoder', num_layers=6, num_heads=8, feedforward_channels=2048, dropout=0.1),
        position_embedding=dict(
            type='PositionEmbedding3D', depth_num=64, depth_start=1.0, position_range=position_range, lid=True),
        pc_range={{_base_.point_cloud_range}},
        bbox_coder=dict(type='NMSFreeCoder', post_center_range=position_range, max_num=300),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=0.25),
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2]),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.HungarianAssigner',
            match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='BBox3DL1Cost', weight=0.25),
            ])))
