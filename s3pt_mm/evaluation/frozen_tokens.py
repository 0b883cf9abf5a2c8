"""The tokens of a frozen demo ViT on labelled nuImages images, and the token-level probes on them
(:mod:`.token_probe`): what ``tools/token_probe.py`` and ``tools/proxy_experiment.py --token-probe`` measure.

The backbone is the demo ViT (4 layers x 192, ``configs/demo/``) built exactly as the demo's linear probe
builds it (:class:`s3pt_mm.downstream.FrozenPretrainedViT`: a pre-training checkpoint's EMA teacher or an
extracted backbone, no gradient, eval mode), fed the images resized to ``size`` with the probe's RGB
normalisation. Each token is labelled with its patch's majority class.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .token_probe import knn_predict, logistic_predict, patch_majority, token_scores

__all__ = ['MEAN', 'STD', 'PROBE_SIZE', 'CLASSIFIERS', 'load_split', 'build_backbone', 'token_features',
           'position_features', 'probe_tokens', 'probe_positions']

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # the probe's (RGB) normalisation
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
#: (W, H) the demo probe resizes its test images to (configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py)
PROBE_SIZE = (192, 96)
#: the classifiers of :func:`probe_tokens` / :func:`probe_positions`, in the order they report. ``logistic +
#: position``: the logistic regression given each token's features and its one-hot row and column
#: (:func:`position_features`), so what it gains over position alone is class information the tokens add
#: to where they sit (for :func:`probe_positions`, whose features are the positions, it is ``logistic``).
CLASSIFIERS = ('k-NN', 'logistic', 'logistic + position')


def load_split(root: str, split: str, size: Sequence[int]) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """[(RGB image resized to ``size`` = (W, H), label at full size, label resized to ``size`` (nearest))]
    of the ``split`` of a nuImages root labelled by ``tools/dataset_converters/nuimages_seg.py``."""
    import cv2

    from s3pt_mm.converters.nuimages_seg import LABEL_DIR, split_names
    items = []
    for name in split_names(root, split):
        image = cv2.imread(osp.join(root, name + '.jpg'))
        label = cv2.imread(osp.join(root, LABEL_DIR, name + '.png'), cv2.IMREAD_UNCHANGED)
        if image is None or label is None:
            raise FileNotFoundError(f'cannot read the image or the label of {name} under {root}')
        items.append((cv2.resize(image, tuple(size), interpolation=cv2.INTER_LINEAR)[..., ::-1], label,
                      cv2.resize(label, tuple(size), interpolation=cv2.INTER_NEAREST)))
    return items


def build_backbone(checkpoint: str, patch_size: int):
    """The demo ViT, frozen, with the weights of ``checkpoint`` (as the demo probe builds it)."""
    from s3pt_mm.downstream import FrozenPretrainedViT
    backbone = FrozenPretrainedViT(
        checkpoint=checkpoint, arch=dict(embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
        img_size=96, patch_size=patch_size, drop_rate=0.0, drop_path_rate=0.0, final_norm=True,
        interpolate_mode='bicubic')
    backbone.init_weights()
    return backbone


def _token_labels(input_label: np.ndarray, patch: int, num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """(h * w,) patch-majority labels of one resized label map, row-major, and the (h * w,) mask of the
    tokens kept (those with a valid majority)."""
    y = patch_majority(input_label, patch, num_classes).reshape(-1)
    return y, y < num_classes


def token_features(backbone, items, patch: int, num_classes: int, batch: int = 16) -> Tuple[np.ndarray, np.ndarray]:
    """(N, C) token features and (N,) majority labels of all tokens of ``items`` (ignored tokens dropped)."""
    import torch
    feats, labels = [], []
    with torch.no_grad():
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            x = np.stack([(image.astype(np.float32) - MEAN) / STD for image, _, _ in chunk]).transpose(0, 3, 1, 2)
            out = backbone(torch.from_numpy(np.ascontiguousarray(x)))[0]  # (B, C, h, w)
            for f, (_, _, input_label) in zip(out, chunk):
                y, keep = _token_labels(input_label, patch, num_classes)
                f = f.permute(1, 2, 0).reshape(-1, f.shape[0]).numpy()
                feats.append(f[keep])
                labels.append(y[keep])
    return np.concatenate(feats), np.concatenate(labels)


def position_features(items, patch: int, num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """The tokens of ``items`` as :func:`token_features` keeps them, described by their place in the grid
    only: (N, h + w) one-hot row and column, and the (N,) majority labels. Under cosine similarity the
    nearest tokens are those at the same row and column, so k-NN on these is the majority class of each
    grid position: the score a backbone gets from position alone."""
    feats, labels = [], []
    for _, _, input_label in items:
        y, keep = _token_labels(input_label, patch, num_classes)
        h, w = input_label.shape[0] // patch, input_label.shape[1] // patch
        rows, cols = np.divmod(np.arange(h * w), w)
        onehot = np.concatenate([np.eye(h, dtype=np.float32)[rows], np.eye(w, dtype=np.float32)[cols]], 1)
        feats.append(onehot[keep])
        labels.append(y[keep])
    return np.concatenate(feats), np.concatenate(labels)


def probe_tokens(checkpoint: str, train, val, patch: int, num_classes: int,
                 k: int = 20) -> Tuple[Dict[str, dict], List[int]]:
    """``({classifier: scores}, train tokens per class)`` of the backbone of ``checkpoint``: each of
    :data:`CLASSIFIERS` fitted on the tokens of ``train`` predicts those of ``val`` (items of
    :func:`load_split`); scores as :func:`.token_probe.token_scores`."""
    backbone = build_backbone(checkpoint, patch)
    positions = (position_features(train, patch, num_classes)[0], position_features(val, patch, num_classes)[0])
    return _probe(*token_features(backbone, train, patch, num_classes),
                  *token_features(backbone, val, patch, num_classes), num_classes, k, positions)


def probe_positions(train, val, patch: int, num_classes: int, k: int = 20) -> Tuple[Dict[str, dict], List[int]]:
    """:func:`probe_tokens` with :func:`position_features` in place of a backbone's tokens: the
    reference a backbone must beat to carry class information beyond where its tokens are."""
    return _probe(*position_features(train, patch, num_classes), *position_features(val, patch, num_classes),
                  num_classes, k)


def _probe(xtr, ytr, xva, yva, num_classes: int, k: int,
           positions: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Tuple[Dict[str, dict], List[int]]:
    """``positions``: the (train, val) :func:`position_features` of the same tokens, appended to the
    features for ``logistic + position``; None when the features are the positions."""
    logistic = token_scores(yva, logistic_predict(xtr, ytr, xva), num_classes)
    with_position = logistic if positions is None else token_scores(
        yva, logistic_predict(np.concatenate([xtr, positions[0]], 1), ytr, np.concatenate([xva, positions[1]], 1)),
        num_classes)
    scores = {'k-NN': token_scores(yva, knn_predict(xtr, ytr, xva, k), num_classes), 'logistic': logistic,
              'logistic + position': with_position}  # as CLASSIFIERS
    return scores, np.bincount(ytr, minlength=num_classes).tolist()
