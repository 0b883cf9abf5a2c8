# Segmenter with the Mask Transformer decoder on a frozen pre-trained ViT-S/16 (paper A.2.1), trained with
# mmseg's default 160k-iteration schedule. Everything of mmseg's own
# segmenter/segmenter_vit-s_mask_8xb1-160k_ade20k-512x512.py except the dataset (the top-level configs add
# nuImages or Cityscapes), with three changes for a frozen self-supervised backbone:
#   * backbone: FrozenPretrainedViT = mmpretrain's deit-small ViT-S/16 exactly as pre-trained (224 input,
#     position embeddings interpolated to the input size), weights of the pre-training checkpoint's EMA
#     teacher, no gradient, always in eval mode, left out of the optimizer;
#   * normalisation: the ImageNet mean/std of pre-training (mmseg's Segmenter ViTs use 127.5/127.5);
#   * learning rate: 8e-4, the first of the paper's sweep {8e-4, 3e-4, 8e-5} (tools/seg_lr_sweep.py).
# The checkpoint is given on the command line:
#   --cfg-options model.backbone.checkpoint=work_dirs/<pretraining>/epoch_500.pth [model.backbone.which=student]
_base_ = [
    'mmseg::_base_/models/segmenter_vit-b16_mask.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['s3pt_mm.seg'], allow_failed_imports=False)

checkpoint = None  # mmseg's ImageNet-21k ViT; the pre-trained backbone is model.backbone.checkpoint
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
model = dict(
    pretrained=None,  # EncoderDecoder would hand this to the backbone; the backbone loads its own weights
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='FrozenPretrainedViT',
        checkpoint=None,
        which='teacher',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        drop_rate=0.0,
        drop_path_rate=0.0,
        final_norm=True,
        out_type='featmap',
        interpolate_mode='bicubic'),
    decode_head=dict(in_channels=384, channels=384, num_heads=6, embed_dims=384))

# Segmenter's optimizer (SGD, momentum 0.9, no weight decay) with the trainable parameters only.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=8e-4, weight_decay=0.0),
    constructor='TrainableParamsOptimWrapperConstructor')
# The learning rates of the sweep are for mmseg's Segmenter batch: 8 GPUs x 1 image ("8xb1") = 8. A run
# with another total batch (GPUs x train_dataloader.batch_size) scales the rate linearly with
# tools/train.py --auto-scale-lr; tools/seg_lr_sweep.py refuses a mismatch without it.
auto_scale_lr = dict(enable=False, base_batch_size=8)
