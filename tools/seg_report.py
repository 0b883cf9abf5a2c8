"""Per-class IoU of several segmentation runs side by side: a markdown and a CSV table, and a bar chart like
the paper's Fig. 5.

    python tools/seg_report.py NAME=WORK_DIR [NAME=WORK_DIR ...] --out-dir reports/seg
        [--stem per_class_iou] [--title "nuImages, Mask Transformer, ViT-S/16"]

WORK_DIR is the folder of a tools/train.py run (its final validation), of a tools/test.py run (its test
metrics) or of a tools/seg_lr_sweep.py sweep (its best learning rate). Writes OUT_DIR/STEM.md, .csv and
.png atomically.
"""
import argparse
import sys

from s3pt_mm.seg.results import final_metrics, write_report
from s3pt_mm.utils.cli import name_and_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', type=name_and_path, metavar='NAME=WORK_DIR')
    parser.add_argument('--out-dir', required=True, help='folder of the report files')
    parser.add_argument('--stem', default='per_class_iou', help='file name stem (default: per_class_iou)')
    parser.add_argument('--title', default='Per-class IoU', help='title of the table and the chart')
    args = parser.parse_args(argv)
    try:
        runs = [(name, final_metrics(path)) for name, path in args.runs]
    except FileNotFoundError as error:
        sys.exit(f'error: {error}')
    paths = write_report(runs, args.out_dir, args.stem, args.title)
    for name, metrics in runs:
        print(f'{name}: mIoU {metrics["mIoU"]:.2f}')
    print('wrote ' + ', '.join(paths.values()))


if __name__ == '__main__':
    main()
