# Building blocks of the three methods (paper Tables 5-7). Method configs pick and adjust them.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
# mmpretrain's ViT with DINO's / CrIBo's initialisation (trunc-normal(0.02) Linear layers and [CLS] token;
# see s3pt_mm/models/backbones/dino_vit.py for why this is not an init_cfg). Checkpoints load into a plain
# VisionTransformer.
vit_s16 = dict(type='DINOVisionTransformer', arch='deit-small', patch_size=16, img_size=224,
               drop_path_rate=0.1, out_type='raw')  # ViT-S/16: 384 wide, 12 layers, 6 heads
vit_b16 = dict(type='DINOVisionTransformer', arch='deit-base', patch_size=16, img_size=224,
               drop_path_rate=0.1, out_type='raw')  # ViT-B/16: 768 wide, 12 layers, 12 heads
num_prototypes = 65536
dino_head = dict(type='DINOProjectionHead', in_channels=384, num_prototypes=num_prototypes,
                 hidden_channels=2048, bottleneck_channels=256, num_layers=3, norm_last_layer=False)
# DINO softmax, centering of logits (DINO, CrIBo).
dino_softmax_loss = dict(type='DINOLoss', out_channels=num_prototypes, student_temp=0.1,
                         teacher_temp=0.04, center_momentum=0.9, vmf=False, centering='logit')
# vMF-normalised softmax (Eq. 2), centering in probability space (S3PT).
vmf_softmax_loss = dict(type='DINOLoss', out_channels=num_prototypes, student_temp=0.1,
                        teacher_temp=0.04, center_momentum=0.9, vmf=True, centering='probability',
                        bottleneck_channels=256)
cribo_clustering = dict(type='SinkhornSpatialClustering', num_clusters=32, num_iters=5,
                        sinkhorn_lambda=20.0, pos_alpha=1.0, depth_alpha=0.0)
# depth_normalization: the paper gives no scale for |d_i - d_j|; 'max' divides it by the image's largest
# token depth (in [0, 1] like the other cost terms). Our reading; 'none' keeps metres.
s3pt_clustering = dict(type='SinkhornSpatialClustering', num_clusters=128, num_iters=1,
                       sinkhorn_lambda=20.0, pos_alpha=1.0, depth_alpha=4.0, depth_normalization='max')
