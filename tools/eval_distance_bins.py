"""nuScenes detection AP per distance range (paper Table 10) from detection result files.

    python tools/eval_distance_bins.py --data-root data/nuscenes --version v1.0-trainval \
        --result dino=work_dirs/petr_dino/results/pred_instances_3d/results_nusc.json \
        --result cribo=... --result s3pt=... --out-dir work_dirs/table10 [--ranges 20 30 60]

Each result file is the ``results_nusc.json`` that mmdet3d's ``NuScenesMetric`` writes when its
``jsonfile_prefix`` is set (``tools/test.py CONFIG CKPT --cfg-options
test_evaluator.jsonfile_prefix=DIR``). For every range 0-R m, ground truths and predictions at R m or
farther are dropped, every class range set to R, and the official matching and AP computed (see
``s3pt_mm.det3d.distance_eval``, docs/detection3d.md); the table (AP per class and mAP, construction
vehicles left out as in Table 10) is printed and written to
``OUT_DIR/distance_bins.md`` and ``OUT_DIR/distance_bins.csv``.
"""
import argparse
import os.path as osp

from s3pt_mm.det3d.distance_eval import (DISTANCE_RANGES, TABLE10_CLASSES, evaluate_distance_ranges,
                                         format_markdown, write_csv)
from s3pt_mm.utils.cli import name_and_path
from s3pt_mm.utils.fileio import write_text_atomic

EVAL_SETS = {'v1.0-trainval': 'val', 'v1.0-mini': 'mini_val'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Distance-binned nuScenes detection AP (Table 10)')
    parser.add_argument('--data-root', required=True, help='nuScenes root directory')
    parser.add_argument('--version', default='v1.0-trainval', choices=sorted(EVAL_SETS),
                        help='dataset version (evaluated split: val / mini_val)')
    parser.add_argument('--result', action='append', required=True, type=name_and_path, metavar='NAME=PATH',
                        help='a model name and its results_nusc.json (repeat for several models)')
    parser.add_argument('--out-dir', required=True, help='where distance_bins.md / .csv are written')
    parser.add_argument('--ranges', type=float, nargs='+', default=list(DISTANCE_RANGES),
                        help='upper ends of the ranges 0-R m (default: 20 30 60)')
    parser.add_argument('--classes', nargs='+', default=list(TABLE10_CLASSES),
                        help='classes reported and averaged (default: Table 10, no construction vehicle)')
    args = parser.parse_args(argv)
    results = {}
    for name, path in args.result:
        if not osp.isfile(path):
            parser.error(f'result file not found: {path}')
        results[name] = path
    args.results = results
    return args


def main(argv=None):
    args = parse_args(argv)
    from nuscenes import NuScenes

    nusc = NuScenes(version=args.version, dataroot=args.data_root, verbose=False)
    try:
        tables = {
            name: evaluate_distance_ranges(nusc, path, EVAL_SETS[args.version], args.ranges, args.classes)
            for name, path in args.results.items()
        }
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    markdown = format_markdown(tables, args.classes)
    write_text_atomic(osp.join(args.out_dir, 'distance_bins.md'), markdown)
    write_csv(tables, osp.join(args.out_dir, 'distance_bins.csv'), args.classes)
    print(markdown)
    return tables


if __name__ == '__main__':
    main()
