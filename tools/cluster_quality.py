"""Do the spatial clusters of a frozen teacher follow objects? Instance purity, ARI and the share of
small / distant objects with a cluster of their own, per teacher and clustering setting (paper Figure 1,
quantified).

    python tools/cluster_quality.py --checkpoint S3PT=work_dirs/s3pt/epoch_40.pth \
        --checkpoint CrIBo=work_dirs/cribo/epoch_40.pth --data data/demo/nuscenes --out work_dirs/cluster_quality

--data is a synthetic nuScenes root (tools/make_synthetic_data.py) after tools/create_data.py nuscenes;
the images of its val info file are used (--info, --num-images). A random-init teacher of the first
checkpoint's architecture is added as the floor (--no-random-init leaves it out). Settings: CrIBo (32
clusters, 5 Sinkhorn iterations), S3PT without depth (128, 1) and S3PT (128, 1, depth weight 4). Writes
``cluster_quality.md``, ``.csv``, ``.json`` and ``cluster_quality.png`` (image | ground-truth instances |
the three clusterings, one row per teacher) into --out. Definitions: s3pt_mm/evaluation/cluster_quality.py.
"""
import argparse
import os.path as osp
import sys

from s3pt_mm.evaluation.cluster_eval import csv_rows, markdown, measure
from s3pt_mm.utils.cli import name_and_path
from s3pt_mm.utils.fileio import write_json_atomic, write_png_atomic, write_text_atomic


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='cluster quality of frozen teachers against instance masks')
    parser.add_argument('--checkpoint', action='append', required=True, type=name_and_path, metavar='NAME=PATH',
                        help='NAME=PATH of a pre-training checkpoint (repeatable, rows of the table)')
    parser.add_argument('--data', required=True, help='synthetic nuScenes root with tools/create_data.py output')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--info', help='info file (default: <data>/s3pt_infos_pretrain_val.pkl)')
    parser.add_argument('--synthetic-config', help='synthetic_config.json of the data (default: next to --data)')
    parser.add_argument('--num-images', type=int, help='use the first N images of the info file (default: all)')
    parser.add_argument('--height', type=int, default=224, help='ViT input height (default: 224)')
    parser.add_argument('--small-tokens', type=int, default=4,
                        help='an object of at most this many tokens is small (default: 4)')
    parser.add_argument('--distant', type=float, default=30.0,
                        help='an object farther than this (metres) is distant (default: 30)')
    parser.add_argument('--figure-index', type=int, default=0, help='image of the picture (default: 0)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random init and the cluster seeds')
    parser.add_argument('--no-random-init', action='store_true', help='leave out the random-init teacher')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        results, figure = measure(
            args.checkpoint, args.data, random_init=not args.no_random_init, info=args.info,
            config_path=args.synthetic_config, limit=args.num_images, height=args.height,
            small_tokens=args.small_tokens, distant=args.distant, figure_index=args.figure_index, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    table = markdown(results, args.small_tokens, args.distant)
    print(table)
    write_text_atomic(osp.join(args.out, 'cluster_quality.md'), table)
    write_text_atomic(osp.join(args.out, 'cluster_quality.csv'), csv_rows(results))
    write_json_atomic(osp.join(args.out, 'cluster_quality.json'),
                      dict(results=results, small_tokens=args.small_tokens, distant=args.distant,
                           height=args.height, data=args.data))
    if figure is not None:
        write_png_atomic(osp.join(args.out, 'cluster_quality.png'), figure)
    print(f'wrote {args.out}/cluster_quality.{{md,csv,json,png}}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
