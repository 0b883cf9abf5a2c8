"""nuScenes detection AP per distance range, in the layout of the paper's Table 10.

Construction of a range ``0-R m`` (the reading of Table 10 this project follows, docs/detection3d.md):
ground truths **and** predictions whose centre is ``R`` m or more from the ego vehicle (BEV distance in the
global frame, the devkit's ``ego_dist``) are dropped, with every class's range lifted (or lowered) to
``R``: ``class_range[c] = R`` for all classes, whatever the official range of ``c`` (30-50 m). The rest is
the official ``DetectionEval``: its point and bike-rack filters, centre-distance matching at 0.5, 1, 2,
4 m and the AP (``accumulate`` / ``calc_ap``) averaged over them. The mAP of a range is the mean over the
reported classes (Table 10 leaves construction vehicles out).

Why not the official ranges capped at ``R`` (``min(official, R)``, this project's first reading): then the
traffic cone and barrier (official range 30 m) would have the same AP in the 0-30 m and the 0-60 m
columns, but Table 10 reports different ones for every model (e.g. DINO traffic cone 0.285 vs 0.263), and
0-60 m would be the standard evaluation, whose 10-class AP sums (Table 4: 1.645, 1.308, 1.817 for DINO,
CrIBo, S3PT ViT-S/16) cannot be below the 9-class sums of Table 10's 0-60 m column (1.702, 1.518, 2.019).
"""
import csv
import tempfile
from typing import Dict

import numpy as np

from ..utils.fileio import atomic_path

__all__ = ['TABLE10_CLASSES', 'DISTANCE_RANGES', 'range_detection_config', 'within_range', 'range_aps',
           'evaluate_distance_ranges', 'range_label', 'format_markdown', 'write_csv']

#: Classes and order of Table 10 (no construction vehicle).
TABLE10_CLASSES = ('car', 'truck', 'bus', 'trailer', 'pedestrian', 'motorcycle', 'bicycle', 'traffic_cone',
                   'barrier')
#: Upper ends (metres) of the ranges of Table 10: 0-20 m, 0-30 m, 0-60 m.
DISTANCE_RANGES = (20.0, 30.0, 60.0)


def range_label(max_range):
    """``'0-20m'`` for 20.0."""
    return f'0-{max_range:g}m'


def range_detection_config(max_range, eval_version='detection_cvpr_2019'):
    """The official ``DetectionConfig`` with every class range set to ``max_range`` metres."""
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.detection.data_classes import DetectionConfig

    content = config_factory(eval_version).serialize()
    content['class_range'] = {name: max_range for name in content['class_range']}
    return DetectionConfig.deserialize(content)


def within_range(boxes, max_range):
    """A copy of ``boxes`` (devkit ``EvalBoxes`` with ``ego_translation`` set) without the boxes at
    ``max_range`` metres or farther (the devkit's own comparison, ``ego_dist < range``)."""
    from nuscenes.eval.common.data_classes import EvalBoxes

    kept = EvalBoxes()
    for token in boxes.sample_tokens:
        kept.add_boxes(token, [box for box in boxes[token] if box.ego_dist < max_range])
    return kept


def range_aps(gt_boxes, pred_boxes, max_range, config, classes=TABLE10_CLASSES) -> Dict[str, float]:
    """AP per class and mAP of the range ``0-max_range`` m: both box sets cut to the range, then the
    devkit's ``accumulate`` and ``calc_ap`` at each matching threshold of ``config``, averaged."""
    from nuscenes.eval.detection.algo import accumulate, calc_ap

    gt, pred = within_range(gt_boxes, max_range), within_range(pred_boxes, max_range)
    aps = {}
    for name in classes:
        aps[name] = float(np.mean([
            calc_ap(accumulate(gt, pred, name, config.dist_fcn_callable, threshold), config.min_recall,
                    config.min_precision) for threshold in config.dist_ths]))
    aps['mAP'] = float(np.mean([aps[name] for name in classes]))
    return aps


def evaluate_distance_ranges(nusc, result_path, eval_set, max_ranges=DISTANCE_RANGES, classes=TABLE10_CLASSES,
                             eval_version='detection_cvpr_2019'):
    """AP per class and mAP for each range ``0-R m``.

    The devkit's ``DetectionEval`` loads and filters the boxes once, with every class range at the largest
    ``R``; each range then cuts both sets further (:func:`range_aps`).

    Args:
        nusc (NuScenes): the dataset.
        result_path (str): detections in the nuScenes submission format (``results_nusc.json``, written
            by mmdet3d's ``NuScenesMetric``; global frame).
        eval_set (str): split evaluated (``'val'``, ``'mini_val'``).
        max_ranges (Sequence[float]): range ends (metres).
        classes (Sequence[str]): detection classes reported and averaged.

    Returns:
        dict: ``{range_label: {class: AP, ..., 'mAP': mean}}`` in the order of ``max_ranges``.
    """
    from nuscenes.eval.detection.evaluate import DetectionEval

    config = range_detection_config(max(max_ranges), eval_version)
    with tempfile.TemporaryDirectory() as output_dir:
        try:
            evaluation = DetectionEval(nusc, config, result_path, eval_set, output_dir, verbose=False)
        except AssertionError as error:  # the devkit's checks of the result file
            raise ValueError(f'{result_path}: {error}') from error
    return {range_label(r): range_aps(evaluation.gt_boxes, evaluation.pred_boxes, r, config, classes)
            for r in max_ranges}


def _columns(tables):
    """(range label, model) pairs, ranges outermost, for ``tables = {model: evaluate_distance_ranges(...)}``."""
    ranges = list(next(iter(tables.values())))
    return [(r, model) for r in ranges for model in tables]


def format_markdown(tables, classes=TABLE10_CLASSES, digits=3):
    """Markdown table: a row per class and ``mAP``, a column per (range, model), as Table 10."""
    columns = _columns(tables)
    lines = ['| Class | ' + ' | '.join(f'{r} {model}' for r, model in columns) + ' |',
             '|---|' + '---:|' * len(columns)]
    for name in (*classes, 'mAP'):
        values = ' | '.join(f'{tables[model][r][name]:.{digits}f}' for r, model in columns)
        lines.append(f'| {name.replace("_", " ")} | {values} |')
    return '\n'.join(lines) + '\n'


def write_csv(tables, path, classes=TABLE10_CLASSES):
    """The same table as CSV (header ``class, <range>/<model>, ...``; full precision)."""
    columns = _columns(tables)
    with atomic_path(path) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['class'] + [f'{r}/{model}' for r, model in columns])
        for name in (*classes, 'mAP'):
            writer.writerow([name] + [tables[model][r][name] for r, model in columns])
