"""Evaluate a trained model from an OpenMMLab config and checkpoint.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl] [--cfg-options k=v ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_GPUS [args]     # torchrun, --launcher pytorch
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.evaluator import DumpResults

from s3pt_mm.utils.runner import add_runner_args, apply_runner_args, build_runner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model (s3pt_mm)')
    add_runner_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump the raw predictions to this pickle file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    cfg = apply_runner_args(Config.fromfile(args.config), args)
    cfg.load_from = args.checkpoint

    runner = build_runner(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out must be a .pkl/.pickle file, got {args.out}')
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    metrics = runner.test()
    return metrics


if __name__ == '__main__':
    main()
