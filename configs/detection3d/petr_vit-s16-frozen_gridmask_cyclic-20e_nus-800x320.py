# PETR on a frozen pre-trained ViT-S/16 (paper Table 4, appendix A.2.2, Table 8).
#   tools/train.py configs/detection3d/petr_vit-s16-frozen_gridmask_cyclic-20e_nus-800x320.py \
#       --cfg-options model.img_backbone.checkpoint=work_dirs/s3pt_vit-s16_8xb32-500e_nuscenes/epoch_500.pth
# The EMA teacher of the checkpoint is loaded (model.img_backbone.which='student' for the student) and
# stays frozen: no gradient, eval mode, not in the optimizer.
_base_ = ['./_base_/petr_frozen_vit.py', './_base_/schedule_cyclic-20e.py', './_base_/default_runtime.py']
vit_width = 384  # ViT-S/16 (deit-small): the head's in_channels, Table 8's "hidden dim"
model = dict(
    img_backbone=dict(arch='deit-small'),
    pts_bbox_head=dict(in_channels=vit_width))
