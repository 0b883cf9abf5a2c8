"""Segmentation results out of mmseg's JSON logs: the final evaluation of a run, the learning-rate sweep
summary, and the per-class tables (markdown, CSV) and bar chart (paper Fig. 5) of tools/seg_report.py.

Where mmengine writes evaluations (``PerClassIoUMetric`` adds ``IoU.<class>`` to each):

* training (tools/train.py): ``<work_dir>/<timestamp>/vis_data/scalars.json``, one JSON line per log
  entry; the validation ones carry ``mIoU`` and ``step`` (the iteration);
* testing (tools/test.py): ``<work_dir>/<timestamp>/<timestamp>.json``, one dict of metrics.
"""
import csv
import glob
import io
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.fileio import atomic_path, write_text_atomic
from .metrics import PER_CLASS_PREFIX

SUMMARY_KEYS = ('mIoU', 'mAcc', 'aAcc')
SWEEP_SUMMARY = 'sweep.json'


def _evaluations(work_dir: str) -> List[Tuple[Tuple[str, float], dict]]:
    """((timestamp, step), metrics) of every evaluation logged in ``work_dir``."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        timestamp = path.split(osp.sep)[-3]
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'mIoU' in record:
                    found.append(((timestamp, record.get('step', 0)), record))
    for path in glob.glob(osp.join(work_dir, '*', '*.json')):
        timestamp = osp.basename(osp.dirname(path))
        if osp.basename(path) == timestamp + '.json':
            with open(path) as f:
                record = json.load(f)
            if 'mIoU' in record:
                found.append(((timestamp, math.inf), record))
    return found


def final_metrics(work_dir: str) -> dict:
    """The metrics of the last evaluation in ``work_dir`` (newest run; latest iteration in it).

    A sweep folder of tools/seg_lr_sweep.py stands for its best run.

    Raises:
        FileNotFoundError: no evaluation with ``mIoU`` was logged there.
    """
    sweep = osp.join(work_dir, SWEEP_SUMMARY)
    if osp.isfile(sweep):
        with open(sweep) as f:
            summary = json.load(f)
        if summary.get('best') is None:
            raise FileNotFoundError(f'{work_dir}: the learning-rate sweep has no finished run yet')
        return summary['runs'][summary['best']]['metrics']
    found = _evaluations(work_dir)
    if not found:
        raise FileNotFoundError(f'no mIoU evaluation logged in {work_dir} (looked for '
                                f'<timestamp>/vis_data/scalars.json and <timestamp>/<timestamp>.json)')
    return max(found, key=lambda item: item[0])[1]


def per_class_iou(metrics: dict) -> Dict[str, float]:
    """``{class: IoU}`` of a metrics dict (its ``IoU.<class>`` entries, in their order)."""
    return {k[len(PER_CLASS_PREFIX):]: v for k, v in metrics.items() if k.startswith(PER_CLASS_PREFIX)}


def present_class_miou(per_class: Dict[str, float], present: Sequence[str]) -> float:
    """Mean IoU (%) over the classes ``present`` in the ground truth, from a run's :func:`per_class_iou`.

    mmseg's ``mIoU`` averages every class whose union of ground truth and prediction is not empty, so a
    class absent from the ground truth counts as 0 when a model predicts a pixel of it and is left out
    when it predicts none: the classes averaged depend on the model. Over the classes of the ground truth
    every model's mean has the same terms. ``mIoU`` itself is left as mmseg computes it.

    Raises:
        ValueError: ``present`` is empty, or a class of it has no IoU in ``per_class`` (a class with
            ground-truth pixels always has one).
    """
    missing = [c for c in present if math.isnan(per_class.get(c, math.nan))]
    if not present or missing:
        raise ValueError(f'no IoU logged for the ground-truth classes {missing}' if missing else
                         'no class is present in the ground truth')
    return sum(per_class[c] for c in present) / len(present)


def _classes(runs: Sequence[Tuple[str, dict]]) -> List[str]:
    names: List[str] = []
    for _, metrics in runs:
        names += [c for c in per_class_iou(metrics) if c not in names]
    return names


def _fmt(value: Optional[float], missing: str = '-') -> str:
    return missing if value is None or math.isnan(value) else f'{value:.2f}'


def markdown_table(runs: Sequence[Tuple[str, dict]]) -> str:
    """Classes as rows and runs as columns (as the paper's Table 9), then mIoU, mAcc and aAcc."""
    lines = ['| class | ' + ' | '.join(name for name, _ in runs) + ' |',
             '|---|' + '---:|' * len(runs)]
    for cls in _classes(runs):
        lines.append(f'| {cls} | ' + ' | '.join(_fmt(per_class_iou(m).get(cls)) for _, m in runs) + ' |')
    for key in SUMMARY_KEYS:
        lines.append(f'| **{key}** | ' + ' | '.join(_fmt(m.get(key)) for _, m in runs) + ' |')
    return '\n'.join(lines) + '\n'


def csv_table(runs: Sequence[Tuple[str, dict]]) -> str:
    """One row per run: name, mIoU, mAcc, aAcc, then the IoU of each class (empty: not evaluated)."""
    classes = _classes(runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(['run', *SUMMARY_KEYS, *classes])
    for name, metrics in runs:
        ious = per_class_iou(metrics)
        writer.writerow([name, *(_fmt(metrics.get(k), '') for k in SUMMARY_KEYS),
                         *(_fmt(ious.get(c), '') for c in classes)])
    return out.getvalue()


def bar_chart(runs: Sequence[Tuple[str, dict]], path: str, title: str = 'Per-class IoU') -> None:
    """Grouped bars, one group per class and one bar per run (paper Fig. 5), saved as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    classes = _classes(runs)
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(classes) + 2), 4.0))
    for i, (name, metrics) in enumerate(runs):
        ious = per_class_iou(metrics)
        values = [ious.get(c, math.nan) for c in classes]
        ax.bar([x + (i - (len(runs) - 1) / 2) * width for x in range(len(classes))], values, width,
               label=f'{name} ({_fmt(metrics.get("mIoU"))})')
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=30, ha='right')
    ax.set_ylabel('IoU (%)')
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(title='run (mIoU)', fontsize='small')
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)


def write_report(runs: Sequence[Tuple[str, dict]], out_dir: str, stem: str = 'per_class_iou',
                 title: str = 'Per-class IoU') -> Dict[str, str]:
    """Write ``<stem>.md``, ``<stem>.csv`` and ``<stem>.png`` into ``out_dir``; returns their paths."""
    paths = {ext: osp.join(out_dir, f'{stem}.{ext}') for ext in ('md', 'csv', 'png')}
    write_text_atomic(paths['md'], f'## {title}\n\nIoU (%) per class; final evaluation of each run.\n\n'
                      + markdown_table(runs))
    write_text_atomic(paths['csv'], csv_table(runs))
    bar_chart(runs, paths['png'], title)
    return paths
