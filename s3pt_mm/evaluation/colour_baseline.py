"""How much of a segmentation task colour alone solves: the best per-pixel classifier that sees only a
pixel's RGB value.

:class:`ColourLookupClassifier` quantises RGB into ``bins**3`` cells, counts the classes of the training
pixels in every cell and predicts the most frequent one (cells never seen in training predict the most
frequent class overall). On the training images this is the Bayes-optimal colour-only classifier at
that quantisation; on held-out images it measures how far a flat colour gives a class away. IoU follows
mmseg's definition (per class ``TP / (TP + FP + FN)`` over all images, NaN for a class absent from both
ground truth and prediction; mIoU is the mean over the other classes).
"""
import numpy as np

__all__ = ['ColourLookupClassifier', 'confusion_matrix', 'iou_from_confusion']


class ColourLookupClassifier:
    """Majority class per quantised RGB cell.

    Args:
        num_classes: class ids are ``0 .. num_classes - 1``; other label values (e.g. 255) are ignored.
        bins: cells per colour channel (``256 % bins == 0``).
    """

    def __init__(self, num_classes: int, bins: int = 16):
        if bins < 1 or 256 % bins:
            raise ValueError(f'bins must divide 256, got {bins}')
        self.num_classes, self.bins = num_classes, bins
        self.counts = np.zeros((bins ** 3, num_classes), dtype=np.int64)

    def _cells(self, image: np.ndarray) -> np.ndarray:
        q = image.reshape(-1, 3).astype(np.int64) // (256 // self.bins)
        return (q[:, 0] * self.bins + q[:, 1]) * self.bins + q[:, 2]

    def fit(self, image: np.ndarray, label: np.ndarray) -> 'ColourLookupClassifier':
        """Add the pixels of one (H, W, 3) uint8 image with their (H, W) labels; call once per image."""
        cells, label = self._cells(image), label.reshape(-1).astype(np.int64)
        keep = (label >= 0) & (label < self.num_classes)
        np.add.at(self.counts, (cells[keep], label[keep]), 1)
        return self

    def predict(self, image: np.ndarray) -> np.ndarray:
        """(H, W) predicted class ids of an (H, W, 3) uint8 image."""
        fallback = int(self.counts.sum(axis=0).argmax())
        table = np.where(self.counts.sum(axis=1) > 0, self.counts.argmax(axis=1), fallback)
        return table[self._cells(image)].reshape(image.shape[:2])


def confusion_matrix(label: np.ndarray, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows ground truth, columns prediction; labels outside
    ``[0, num_classes)`` are ignored."""
    label, prediction = label.reshape(-1).astype(np.int64), prediction.reshape(-1).astype(np.int64)
    keep = (label >= 0) & (label < num_classes)
    return np.bincount(label[keep] * num_classes + prediction[keep],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU ``TP / (TP + FP + FN)``; NaN where the union is empty."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / union, np.nan)
