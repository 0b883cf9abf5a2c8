# An upper bound for the demo's linear probe (docs/proxy-experiments.md, "What limits the demo's probe"):
# the demo ViT (4 layers x 192, patch 16, 96x96 crops) trained WITH the nuImages labels, end to end with
# the Segmenter linear head, on the synthetic nuImages train split. Its backbone, frozen and probed with
# the demo's probe config exactly like a pre-trained one, shows what the probe can reach with features
# that know the classes:
#   python tools/train.py configs/demo/supervised-oracle_vit-demo_synthetic-nuimages.py --work-dir W \
#       --cfg-options train_dataloader.dataset.data_root=D/ val_dataloader.dataset.data_root=D/
#   python tools/extract_backbone.py W/iter_2000.pth W/backbone.pth --which student
#   (then the probe: configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py with
#    model.backbone.checkpoint=W/backbone.pth)
# Never a baseline of the paper: it sees the labels the pre-trained backbones never see.
_base_ = './segmenter-linear_vit-demo_synthetic-nuimages.py'
max_iters = 2000
model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.VisionTransformer',
                  arch=dict(embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
                  img_size=96, patch_size=16, drop_rate=0.0, drop_path_rate=0.0, final_norm=True,
                  out_type='featmap', interpolate_mode='bicubic'))
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
                     clip_grad=dict(max_norm=3.0))
param_scheduler = [dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
                   dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=100, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(by_epoch=False, interval=max_iters))
