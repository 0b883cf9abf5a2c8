"""Extract the ViT backbone of a checkpoint into a plain state dict, in the layout of mmpretrain, DINO or timm.

    python tools/extract_backbone.py work_dirs/s3pt/epoch_500.pth s3pt_vit-s16_teacher.pth [--which student]
    python tools/extract_backbone.py work_dirs/s3pt/epoch_500.pth s3pt_vit-s16_dino.pth --format dino

The input is any checkpoint FrozenPretrainedViT accepts (s3pt_mm.utils.backbone_layouts): a pre-training
checkpoint of this project, a DINO or CrIBo training checkpoint, a DINO hub backbone, a timm, mmpretrain or
mmseg ViT. The teacher (EMA) weights are extracted by default: they are what the paper evaluates.

Formats (--format):
  mmpretrain (default)  {'state_dict': <ViT weights>, 'meta': {...}}, loadable by mmpretrain's VisionTransformer
                        (init_cfg=dict(type='Pretrained', checkpoint=OUT)) and by the configs of this project;
  dino, timm            the plain state dict in DINO's names (timm's are the same), loadable with strict=True
                        into DINO's vit_small / vit_base and into timm.create_model('vit_small_patch16_224',
                        num_classes=0) (vit_base_patch16_224 for ViT-B/16).
"""
import argparse

from s3pt_mm.utils.backbone_layouts import EXPORT_FORMATS, backbone_in_format
from s3pt_mm.utils.checkpoint import load_backbone, save_checkpoint_atomic
from s3pt_mm.utils.compat import UntrustedCheckpointError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('checkpoint', help='checkpoint file (any layout FrozenPretrainedViT accepts)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--which', choices=['teacher', 'student'], default='teacher',
                        help='network of a teacher-student checkpoint (default: teacher)')
    parser.add_argument('--format', choices=EXPORT_FORMATS, default='mmpretrain',
                        help='layout of the output (default: mmpretrain)')
    args = parser.parse_args(argv)
    try:
        backbone = load_backbone(args.checkpoint, args.which)
        out = backbone_in_format(backbone.state_dict, args.format,
                                 meta=dict(source=args.checkpoint, which=args.which, layout=backbone.layout))
    except (FileNotFoundError, KeyError, ValueError, UntrustedCheckpointError) as error:
        raise SystemExit(f'error: {error}')
    save_checkpoint_atomic(out, args.out)
    n_params = sum(v.numel() for v in backbone.state_dict.values())
    print(f'{args.checkpoint}: {backbone.layout}; {len(backbone.state_dict)} tensors, {n_params / 1e6:.2f} M '
          f'parameters -> {args.out} ({args.format} layout)')


if __name__ == '__main__':
    main()
