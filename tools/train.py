"""Train a model from an OpenMMLab config: pre-training (mmpretrain) or a downstream task (mmseg/mmdet3d).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_GPUS [args]        # torchrun, --launcher pytorch

Which library runs the config is decided by the config itself (``default_scope`` and
``custom_imports``), exactly as with each library's own ``tools/train.py``.
"""
import argparse

from mmengine.config import Config

from s3pt_mm.utils.runner import add_runner_args, apply_runner_args, build_runner, check_mmcv_cuda_ops


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (s3pt_mm)')
    add_runner_args(parser)
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or with no value from the latest checkpoint in '
        'the work dir')
    parser.add_argument('--load-from', help='initialise all weights from this checkpoint (no resume)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (AmpOptimWrapper; DINOAmpOptimWrapper for DINOOptimWrapper configs)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual / base batch size')
    return parser.parse_args(argv)


def merge_args(cfg, args):
    """Fold the command-line options into the config (``--cfg-options`` last)."""
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper in ('AmpOptimWrapper', 'DINOAmpOptimWrapper'):
            print('AMP is already enabled in the config.')
        else:  # keep DINO's gradient rules (pre-training) when they are configured
            cfg.optim_wrapper.type = 'DINOAmpOptimWrapper' if wrapper == 'DINOOptimWrapper' else 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.load_from is not None:
        if args.resume is not None:
            raise SystemExit('--load-from and --resume are exclusive')
        cfg.load_from = args.load_from

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit('--auto-scale-lr needs `auto_scale_lr.base_batch_size` in the config')
        cfg.auto_scale_lr.enable = True
    return apply_runner_args(cfg, args)


def main(argv=None):
    args = parse_args(argv)
    check_mmcv_cuda_ops()  # a CUDA run needs mmcv's CUDA ops (PETR's focal loss): refuse before building
    cfg = merge_args(Config.fromfile(args.config), args)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
