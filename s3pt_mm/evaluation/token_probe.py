"""How much class information frozen ViT tokens carry, measured without the Segmenter probe (issue 13).

Each token of a frozen backbone gets the class that covers most of its patch (:func:`patch_majority`,
ignored pixels left out); classifiers fitted on the tokens of the training images predict the tokens of
held-out images: a cosine k-nearest-neighbour vote (:func:`knn_predict`, no training, no learning rate)
and a multinomial logistic regression (:func:`logistic_predict`). Both report token accuracy and
token-level IoU per class (the IoU of :mod:`s3pt_mm.evaluation.colour_baseline` over tokens, not pixels).

:func:`token_ceiling` measures the other limit, the one of the token grid itself: every token given its
true majority class and upsampled back to the label (nearest), the pixel IoU that a perfect per-token
classifier at that input size and patch would reach. Classes smaller than a patch cannot be a token's
majority and stay near 0 there, whatever the backbone.
"""
from typing import Tuple

import numpy as np

from .colour_baseline import confusion_matrix, iou_from_confusion

__all__ = ['patch_majority', 'upsample_tokens', 'knn_predict', 'logistic_predict', 'token_scores',
           'token_ceiling']


def patch_majority(label: np.ndarray, patch: int, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(H, W) labels -> (H // patch, W // patch) majority class per patch (ties: the smaller id); a patch
    without any valid pixel (ids outside ``[0, num_classes)``) gets ``ignore_index``. H and W must be
    multiples of ``patch``."""
    h, w = label.shape
    if h % patch or w % patch:
        raise ValueError(f'label size {h}x{w} is not a multiple of the patch {patch}')
    blocks = label.reshape(h // patch, patch, w // patch, patch).transpose(0, 2, 1, 3).reshape(
        h // patch, w // patch, patch * patch).astype(np.int64)
    valid = (blocks >= 0) & (blocks < num_classes)
    counts = np.zeros((h // patch, w // patch, num_classes), dtype=np.int64)
    for c in range(num_classes):
        counts[..., c] = ((blocks == c) & valid).sum(-1)
    return np.where(counts.sum(-1) > 0, counts.argmax(-1), ignore_index)


def upsample_tokens(tokens: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of an (h, w) token map to ``shape`` = (H, W) (any H, W)."""
    h, w = tokens.shape
    rows = np.minimum((np.arange(shape[0]) + 0.5) * h / shape[0], h - 1).astype(np.int64)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * w / shape[1], w - 1).astype(np.int64)
    return tokens[rows[:, None], cols[None, :]]


def token_ceiling(label: np.ndarray, input_label: np.ndarray, patch: int, num_classes: int) -> np.ndarray:
    """Pixel confusion matrix of the perfect token classifier: ``input_label`` (the label resized to the
    network input, nearest) -> patch majorities -> upsampled to ``label``'s size, against ``label``."""
    tokens = patch_majority(input_label, patch, num_classes)
    prediction = upsample_tokens(tokens, label.shape)
    return confusion_matrix(label, prediction, num_classes)


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int = 20,
                chunk: int = 2048) -> np.ndarray:
    """Majority vote of the ``k`` nearest training tokens by cosine similarity (ties: the smaller id)."""
    import torch
    train = torch.nn.functional.normalize(torch.as_tensor(train_x, dtype=torch.float32), dim=1)
    labels = torch.as_tensor(train_y, dtype=torch.int64)
    num_classes = int(labels.max()) + 1
    k = min(k, len(train))
    out = []
    for start in range(0, len(test_x), chunk):
        test = torch.nn.functional.normalize(torch.as_tensor(test_x[start:start + chunk], dtype=torch.float32),
                                             dim=1)
        nearest = (test @ train.T).topk(k, dim=1).indices
        votes = torch.nn.functional.one_hot(labels[nearest], num_classes).sum(1)
        out.append(votes.argmax(1))
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def logistic_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, c: float = 1.0,
                     max_iter: int = 1000) -> np.ndarray:
    """Multinomial logistic regression (L2, ``C=c``, unweighted classes) on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    model.fit(train_x, train_y)
    return model.predict(test_x)


def token_scores(truth: np.ndarray, prediction: np.ndarray, num_classes: int) -> dict:
    """``{'accuracy': %, 'miou': %, 'iou': [% or NaN per class], 'classes_predicted': n}`` over tokens
    (mIoU over the classes present in the truth or the prediction)."""
    iou = iou_from_confusion(confusion_matrix(truth, prediction, num_classes)) * 100
    return dict(accuracy=float((truth == prediction).mean() * 100) if len(truth) else float('nan'),
                miou=float(np.nanmean(iou)), iou=[float(v) for v in iou],
                classes_predicted=int(len(np.unique(prediction))))
