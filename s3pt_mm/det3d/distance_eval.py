"""nuScenes detection AP per distance range, in the layout of the paper's Table 10.

Method: the official ``DetectionEval`` of the nuScenes devkit, run once per range ``0-R m`` with the
detection config's ``class_range`` capped at ``R``: ``class_range[c] = min(official range of c, R)``.
The devkit then drops ground truths *and* predictions whose centre is farther than that from the ego
vehicle (BEV distance in the global frame, ``filter_eval_boxes``), and matches / scores the rest
exactly as the official evaluation (centre-distance thresholds 0.5, 1, 2, 4 m, AP averaged over them).
Since the official ranges are at most 50 m, the ``0-60 m`` range equals the standard evaluation. The
mAP of a range is the mean AP over the reported classes (Table 10 leaves construction vehicles out).
"""
import csv
import tempfile

import numpy as np

from ..utils.fileio import atomic_path

__all__ = ['TABLE10_CLASSES', 'DISTANCE_RANGES', 'capped_detection_config', 'evaluate_distance_ranges',
           'range_label', 'format_markdown', 'write_csv']

#: Classes and order of Table 10 (no construction vehicle).
TABLE10_CLASSES = ('car', 'truck', 'bus', 'trailer', 'pedestrian', 'motorcycle', 'bicycle', 'traffic_cone',
                   'barrier')
#: Upper ends (metres) of the ranges of Table 10: 0-20 m, 0-30 m, 0-60 m.
DISTANCE_RANGES = (20.0, 30.0, 60.0)


def range_label(max_range):
    """``'0-20m'`` for 20.0."""
    return f'0-{max_range:g}m'


def capped_detection_config(max_range, eval_version='detection_cvpr_2019'):
    """The official ``DetectionConfig`` with every class range capped at ``max_range`` metres."""
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.detection.data_classes import DetectionConfig

    content = config_factory(eval_version).serialize()
    content['class_range'] = {name: min(r, max_range) for name, r in content['class_range'].items()}
    return DetectionConfig.deserialize(content)


def evaluate_distance_ranges(nusc, result_path, eval_set, max_ranges=DISTANCE_RANGES, classes=TABLE10_CLASSES,
                             eval_version='detection_cvpr_2019'):
    """AP per class and mAP for each range ``0-R m``.

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

    table = {}
    for max_range in max_ranges:
        config = capped_detection_config(max_range, eval_version)
        with tempfile.TemporaryDirectory() as output_dir:
            metrics, _ = DetectionEval(nusc, config, result_path, eval_set, output_dir, verbose=False).evaluate()
        aps = {name: float(metrics.mean_dist_aps[name]) for name in classes}
        aps['mAP'] = float(np.mean([aps[name] for name in classes]))
        table[range_label(max_range)] = aps
    return table


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
