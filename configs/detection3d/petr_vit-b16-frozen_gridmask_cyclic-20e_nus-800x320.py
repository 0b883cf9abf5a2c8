# PETR on a frozen pre-trained ViT-B/16 (paper Table 4, appendix A.2.2, Table 8).
#   tools/train.py configs/detection3d/petr_vit-b16-frozen_gridmask_cyclic-20e_nus-800x320.py \
#       --cfg-options model.img_backbone.checkpoint=work_dirs/s3pt_vit-b16_8xb32-100e_nuscenes/epoch_100.pth
_base_ = ['./_base_/petr_frozen_vit.py', './_base_/schedule_cyclic-20e.py', './_base_/default_runtime.py']
vit_width = 768  # ViT-B/16 (deit-base): the head's in_channels, Table 8's "hidden dim"
model = dict(
    img_backbone=dict(arch='deit-base'),
    pts_bbox_head=dict(in_channels=vit_width))
