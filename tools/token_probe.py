"""Class information in frozen ViT tokens, without the Segmenter probe (docs/proxy-experiments.md).

    python tools/token_probe.py --data NUIMAGES_ROOT [--checkpoint NAME=CKPT ...] [--random SEED ...] \
        [--size 192 96] [--patch-size 16] [--k 20] [--out-dir DIR]

Every backbone (a pre-training checkpoint's EMA teacher, an extracted backbone, or with --random the
demo's random-initialisation floor of that seed, :func:`s3pt_mm.evaluation.experiment.random_init_checkpoint`)
is the demo ViT (4 layers x 192) frozen, fed the nuImages images resized to --size (width height, the demo
probe's test size by default) with the probe's normalisation. Each token is labelled with the majority
class of its patch; k-NN (cosine, k votes) and logistic regression fitted on the ``train`` split's tokens
predict the ``val`` split's tokens (:mod:`s3pt_mm.evaluation.token_probe`), and a third classifier, the
logistic regression given each token's features and its one-hot row and column, measures what the tokens
add to their position. The tool also prints the
token-grid ceiling (the pixel mIoU of the perfect per-token classifier at that size and patch) and, as the
first row, the same classifiers given only each token's row and column: what position alone predicts
(road below, buildings above), which a backbone must beat to show class information of its own.
"""
import argparse
import os.path as osp
import sys

import numpy as np

from s3pt_mm.evaluation.colour_baseline import iou_from_confusion
from s3pt_mm.evaluation.frozen_tokens import PROBE_SIZE, load_split, probe_positions, probe_tokens
from s3pt_mm.evaluation.token_probe import token_ceiling
from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
from s3pt_mm.utils.cli import name_and_path
from s3pt_mm.utils.fileio import write_json_atomic, write_text_atomic

POSITION_ONLY = 'position only (no backbone)'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='nuImages root with the nuimages_seg.py labels')
    parser.add_argument('--checkpoint', action='append', default=[], type=name_and_path, metavar='NAME=CKPT')
    parser.add_argument('--random', action='append', default=[], type=int, metavar='SEED',
                        help='the random-init floor of this seed (repeatable)')
    parser.add_argument('--size', nargs=2, type=int, default=list(PROBE_SIZE), metavar=('W', 'H'))
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--out-dir', default='work_dirs/token_probe')
    args = parser.parse_args(argv)
    if args.size[0] % args.patch_size or args.size[1] % args.patch_size:
        parser.error('--size must be a multiple of --patch-size')
    num_classes = len(NUIMAGES_SEG_CLASSES)
    try:
        train, val = load_split(args.data, 'train', args.size), load_split(args.data, 'val', args.size)
    except FileNotFoundError as error:
        raise SystemExit(str(error))

    confusion = sum(token_ceiling(label, input_label, args.patch_size, num_classes) for _, label, input_label in val)
    ceiling = iou_from_confusion(confusion) * 100
    grid = (args.size[1] // args.patch_size, args.size[0] // args.patch_size)
    lines = [f'token grid {grid[0]}x{grid[1]} (input {args.size[0]}x{args.size[1]}, patch {args.patch_size}); '
             f'{len(train)} train / {len(val)} val images',
             f'ceiling (perfect per-token classifier, nearest upsampling), pixel mIoU {np.nanmean(ceiling):.2f}: ' +
             ', '.join(f'{c} {v:.1f}' for c, v in zip(NUIMAGES_SEG_CLASSES, ceiling)), '']

    backbones = list(args.checkpoint)
    if args.random:
        import logging

        from mmengine.logging import MMLogger

        from s3pt_mm.evaluation.experiment import random_init_checkpoint
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # not mmengine's report of every initialised tensor
        for seed in args.random:
            backbones.append((f'random init (seed {seed})', random_init_checkpoint(
                osp.join(args.out_dir, f'random_init_seed{seed}_p{args.patch_size}.pth'), seed, args.patch_size)))
        logger.setLevel(level)
    header = '| backbone | classifier | token acc | token mIoU | classes predicted | ' + ' | '.join(NUIMAGES_SEG_CLASSES) + ' |'
    lines += [header, '|' + '---|' * (5 + num_classes)]
    results = dict(size=args.size, patch_size=args.patch_size, ceiling_miou=float(np.nanmean(ceiling)),
                   ceiling_iou=[float(v) for v in ceiling], backbones={})
    runs = [(POSITION_ONLY, lambda: probe_positions(train, val, args.patch_size, num_classes, args.k))]
    runs += [(name, lambda c=checkpoint: probe_tokens(c, train, val, args.patch_size, num_classes, args.k))
             for name, checkpoint in backbones]
    for name, measure in runs:
        measured, train_counts = measure()
        results['backbones'][name] = measured
        for clf, scores in measured.items():
            cells = ['-' if np.isnan(v) else f'{v:.1f}' for v in scores['iou']]
            lines.append(f'| {name} | {clf} | {scores["accuracy"]:.1f} | {scores["miou"]:.2f} | '
                         f'{scores["classes_predicted"]} | ' + ' | '.join(cells) + ' |')
        print(lines[-2] + '\n' + lines[-1], file=sys.stderr, flush=True)
    # the same tokens in every run (the position-only one always runs)
    results['train_token_counts'] = train_counts
    lines += ['', 'train tokens per class: ' + ', '.join(f'{c} {n}' for c, n in zip(NUIMAGES_SEG_CLASSES,
                                                                                  train_counts))]
    text = '\n'.join(lines) + '\n'
    print(text)
    write_text_atomic(osp.join(args.out_dir, 'token_probe.md'), text)
    write_json_atomic(osp.join(args.out_dir, 'token_probe.json'), results)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
