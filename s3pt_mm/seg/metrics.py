"""IoU metrics that return every class's IoU, and the two numbers of domain transfer (Table 3)."""
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from .classes import LABEL_SETS, SHARED_CLASS_NAMES, shared_class_lut, transfer_lut

PER_CLASS_PREFIX = 'IoU.'
SHARED_PREFIX = 'IoU_shared.'


def class_ious(results: List[tuple]) -> np.ndarray:
    """IoU (fraction, NaN where the union is empty) per class from ``IoUMetric.intersect_and_union`` tuples."""
    intersect = sum(r[0] for r in results).numpy()
    union = sum(r[1] for r in results).numpy()
    with np.errstate(invalid='ignore', divide='ignore'):
        return intersect / union


def _percent(value: float) -> float:
    return float(np.round(value * 100, 2))


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's IoUMetric that also returns each class's IoU (in %) as ``IoU.<class>``.

    mmseg prints the per-class table into the log only; returned, the values reach the JSON logs
    (``vis_data/scalars.json`` during training, ``<timestamp>.json`` of tools/test.py), which
    ``tools/seg_report.py`` reads. A class absent from both ground truth and prediction has IoU NaN.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        for name, value in zip(self.dataset_meta['classes'], class_ious(results)):
            metrics[PER_CLASS_PREFIX + name] = _percent(value)
        return metrics


@METRICS.register_module()
class DomainTransferIoUMetric(PerClassIoUMetric):
    """Domain transfer (Table 3): a model predicting the ``source`` label set, tested on the ``target`` dataset.

    Two numbers (the mapping: :mod:`s3pt_mm.seg.classes`):

    * ``mIoU`` (headline) and ``IoU.<target class>``: mean IoU over **all classes of the target
      dataset**. Predictions are mapped to target classes with :func:`~s3pt_mm.seg.classes.transfer_lut`;
      a prediction without a single target counterpart is wrong, and a target class no source class
      stands for has IoU 0 where it occurs (NaN, left out of the mean, where it does not);
    * ``mIoU_shared`` and ``IoU_shared.<shared class>``: mean IoU over the classes both label sets share;
      target ground truth without counterpart is ignored, a prediction without counterpart is wrong.

    ``aAcc`` is that of the headline mapping.

    Args:
        source: label set of the model (:data:`~s3pt_mm.seg.classes.LABEL_SETS`).
        target: label set of the test dataset; checked against the dataset's classes.
    """

    def __init__(self, source: str, target: str, **kwargs):
        super().__init__(**kwargs)
        self._to_target = torch.from_numpy(transfer_lut(source, target, len(LABEL_SETS[target]))).long()
        self.source, self.target = source, target
        unmatched = len(SHARED_CLASS_NAMES)  # outside the evaluated class range
        self._pred_to_shared = torch.from_numpy(shared_class_lut(source, unmatched)).long()
        self._gt_to_shared = torch.from_numpy(shared_class_lut(target, self.ignore_index)).long()

    @property
    def dataset_meta(self) -> dict:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        classes = tuple(meta.get('classes', ()))
        if classes != tuple(LABEL_SETS[self.target]):
            raise ValueError(f'DomainTransferIoUMetric(target={self.target!r}) evaluates a dataset with the '
                             f'{self.target} classes, but the test dataset has {classes}')
        self._dataset_meta = dict(meta)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_target, num_shared = len(LABEL_SETS[self.target]), len(SHARED_CLASS_NAMES)
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze().long()
            gt = sample['gt_sem_seg']['data'].squeeze().long().to(pred.device)
            target = self.intersect_and_union(self._to_target.to(pred.device)[pred], gt, num_target,
                                              self.ignore_index)
            shared = self.intersect_and_union(self._pred_to_shared.to(pred.device)[pred],
                                              self._gt_to_shared.to(pred.device)[gt], num_shared,
                                              self.ignore_index)
            self.results.append((target, shared))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics([target for target, _ in results])
        shared = class_ious([s for _, s in results])
        metrics['mIoU_shared'] = _percent(np.nanmean(shared))
        for name, value in zip(SHARED_CLASS_NAMES, shared):
            metrics[SHARED_PREFIX + name] = _percent(value)
        return metrics
