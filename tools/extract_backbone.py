"""Extract the ViT backbone of a pre-training checkpoint into a plain state dict.

    python tools/extract_backbone.py work_dirs/s3pt/epoch_500.pth s3pt_vit-s16_teacher.pth [--which student]

The output is ``{'state_dict': <ViT weights without prefix>, 'meta': {...}}``, loadable by mmpretrain's
VisionTransformer (``init_cfg=dict(type='Pretrained', checkpoint=OUT)``) and by the downstream configs
of this project. The teacher (EMA) weights are extracted by default: they are what the paper evaluates.
"""
import argparse

from s3pt_mm.utils.checkpoint import load_backbone_state_dict, save_checkpoint_atomic
from s3pt_mm.utils.compat import UntrustedCheckpointError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('checkpoint', help='pre-training checkpoint (mmengine Runner)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--which', choices=['teacher', 'student'], default='teacher')
    args = parser.parse_args(argv)
    try:
        state_dict = load_backbone_state_dict(args.checkpoint, args.which)
    except (FileNotFoundError, KeyError, UntrustedCheckpointError) as error:
        raise SystemExit(f'error: {error}')
    save_checkpoint_atomic(
        dict(state_dict=state_dict,
             meta=dict(s3pt_extracted=True, source=args.checkpoint, which=args.which)), args.out)
    n_params = sum(v.numel() for v in state_dict.values())
    print(f'{args.which} backbone: {len(state_dict)} tensors, {n_params / 1e6:.2f} M parameters '
          f'-> {args.out}')


if __name__ == '__main__':
    main()
