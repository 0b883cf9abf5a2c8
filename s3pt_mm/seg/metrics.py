"""IoU metrics that return every class's IoU, and the shared-class IoU of domain transfer (Table 3)."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from .classes import LABEL_SETS, SHARED_CLASS_NAMES, shared_class_lut

PER_CLASS_PREFIX = 'IoU.'


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
        intersect = sum(r[0] for r in results).numpy()
        union = sum(r[1] for r in results).numpy()
        with np.errstate(invalid='ignore', divide='ignore'):
            iou = intersect / union
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[PER_CLASS_PREFIX + name] = float(np.round(value * 100, 2))
        return metrics


@METRICS.register_module()
class DomainTransferIoUMetric(PerClassIoUMetric):
    """IoU over the classes two label sets share (s3pt_mm.seg.classes.SHARED_CLASSES).

    The model predicts the ``source`` label set (the one its head was trained on) on images of the
    ``target`` dataset. Both are mapped to the shared classes: target ground truth of a class without
    counterpart is ignored; a prediction of a source class without counterpart counts as wrong (it lies
    outside the shared classes, so it adds to the union of the true class only).

    Args:
        source: label set of the model, ``'nuimages'`` or ``'cityscapes'``.
        target: label set of the test dataset; checked against the dataset's classes.
    """

    def __init__(self, source: str, target: str, **kwargs):
        super().__init__(**kwargs)
        if source == target or {source, target} != set(LABEL_SETS):
            raise ValueError(f'domain transfer needs source and target among {sorted(LABEL_SETS)}, '
                             f'different, got {source!r} -> {target!r}')
        self.source, self.target = source, target
        unmatched = len(SHARED_CLASS_NAMES)  # outside the evaluated class range
        self._pred_lut = torch.from_numpy(shared_class_lut(source, unmatched)).long()
        self._gt_lut = torch.from_numpy(shared_class_lut(target, self.ignore_index)).long()

    @property
    def dataset_meta(self) -> dict:
        return None if self._dataset_meta is None else dict(self._dataset_meta, classes=SHARED_CLASS_NAMES)

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        classes = tuple(meta.get('classes', ()))
        if classes != tuple(LABEL_SETS[self.target]):
            raise ValueError(f'DomainTransferIoUMetric(target={self.target!r}) evaluates a dataset with the '
                             f'{self.target} classes, but the test dataset has {classes}')
        self._dataset_meta = dict(meta)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        remapped = []
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data']
            gt = sample['gt_sem_seg']['data']
            remapped.append(dict(
                sample, pred_sem_seg=dict(data=self._pred_lut.to(pred.device)[pred.long()]),
                gt_sem_seg=dict(data=self._gt_lut.to(gt.device)[gt.long()])))
        super().process(data_batch, remapped)
