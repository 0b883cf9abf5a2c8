"""How much colour alone gives the segmentation classes away: a per-pixel colour classifier's mIoU.

    python tools/colour_baseline.py NAME=NUIMAGES_ROOT [NAME=NUIMAGES_ROOT ...] [--bins 16] \
        [--out-dir DIR]

For every nuImages root (with the labels of tools/dataset_converters/nuimages_seg.py) the tool fits
:class:`s3pt_mm.evaluation.ColourLookupClassifier` (majority class per quantised RGB cell) on the
``train`` split's pixels and reports IoU per class and mIoU on the ``val`` split, as a markdown table on
stdout and, with --out-dir, ``colour_baseline.md`` and ``colour_baseline.json``. A high mIoU means a
backbone can label the images from flat colours, without learning anything about shapes or objects.
"""
import argparse
import os.path as osp
import sys

import cv2
import numpy as np
from tqdm import tqdm

from s3pt_mm.converters.nuimages_seg import LABEL_DIR, split_names
from s3pt_mm.evaluation import ColourLookupClassifier, confusion_matrix, iou_from_confusion
from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
from s3pt_mm.utils.cli import name_and_path
from s3pt_mm.utils.fileio import write_json_atomic, write_text_atomic


def _pairs(root: str, split: str):
    """(image RGB, label) of every image of a converter split file."""
    try:
        names = split_names(root, split)
    except FileNotFoundError as error:
        raise SystemExit(str(error))
    for name in tqdm(names, desc=f'{osp.basename(osp.normpath(root))} {split}', unit='img', file=sys.stderr):
        image = cv2.imread(osp.join(root, name + '.jpg'))
        label = cv2.imread(osp.join(root, LABEL_DIR, name + '.png'), cv2.IMREAD_UNCHANGED)
        if image is None or label is None:
            raise SystemExit(f'cannot read the image or the label of {name} under {root}')
        yield image[..., ::-1], label


def evaluate(root: str, bins: int = 16) -> dict:
    """Fit on ``train``, evaluate on ``val``: ``{'miou': %, 'iou': {class: % or None}, 'bins': bins}``."""
    num_classes = len(NUIMAGES_SEG_CLASSES)
    classifier = ColourLookupClassifier(num_classes, bins)
    for image, label in _pairs(root, 'train'):
        classifier.fit(image, label)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for image, label in _pairs(root, 'val'):
        confusion += confusion_matrix(label, classifier.predict(image), num_classes)
    iou = iou_from_confusion(confusion) * 100
    return dict(bins=bins, miou=float(np.nanmean(iou)),
                iou={name: (None if np.isnan(v) else float(v)) for name, v in zip(NUIMAGES_SEG_CLASSES, iou)})


def markdown(results: dict) -> str:
    """One row per dataset: mIoU and per-class IoU (%), '-' for a class absent from labels and predictions."""
    lines = ['| data | mIoU | ' + ' | '.join(NUIMAGES_SEG_CLASSES) + ' |',
             '|---|---|' + '---|' * len(NUIMAGES_SEG_CLASSES)]
    for name, result in results.items():
        cells = ['-' if result['iou'][c] is None else f"{result['iou'][c]:.1f}" for c in NUIMAGES_SEG_CLASSES]
        lines.append(f"| {name} | {result['miou']:.2f} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='per-pixel colour classifier mIoU on nuImages roots')
    parser.add_argument('roots', nargs='+', type=name_and_path, metavar='NAME=NUIMAGES_ROOT',
                        help='nuImages root with the nuimages_seg.py labels (repeatable: rows of the table)')
    parser.add_argument('--bins', type=int, default=16, help='quantisation cells per RGB channel (default: 16)')
    parser.add_argument('--out-dir', help='also write colour_baseline.md and colour_baseline.json here')
    args = parser.parse_args(argv)
    results = {name: evaluate(root, args.bins) for name, root in args.roots}
    table = markdown(results)
    print(table)
    if args.out_dir:
        write_text_atomic(osp.join(args.out_dir, 'colour_baseline.md'), table)
        write_json_atomic(osp.join(args.out_dir, 'colour_baseline.json'), results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
