"""s3pt_mm.evaluation.frozen_tokens.position_features / probe_positions: the position-only reference of the
token probe is the majority class of each grid position, on hand-made label maps."""
import numpy as np

from s3pt_mm.evaluation.frozen_tokens import CLASSIFIERS, position_features, probe_positions


def _item(token_labels, patch=2):
    """An item of load_split whose resized label has ``token_labels`` (h, w) as its patch majorities."""
    label = np.kron(np.asarray(token_labels, dtype=np.uint8), np.ones((patch, patch), np.uint8))
    return None, label, label


def test_position_features_are_one_hot_row_and_column_of_the_kept_tokens():
    x, y = position_features([_item([[0, 255, 1], [2, 1, 0]])], patch=2, num_classes=3)
    # the ignored token (255) at row 0, column 1 is dropped, as token_features drops it
    assert y.tolist() == [0, 1, 2, 1, 0]
    rows, cols = x[:, :2], x[:, 2:]
    assert x.shape == (5, 2 + 3) and (x.sum(1) == 2).all()
    assert rows.argmax(1).tolist() == [0, 0, 1, 1, 1] and cols.argmax(1).tolist() == [0, 2, 0, 1, 2]


def test_probe_positions_predicts_each_position_s_majority_class():
    # position (0, 0) is class 2 in three of four training images, class 0 in one; the rest follows rows
    train = [_item([[2, 0], [1, 1]]), _item([[2, 0], [1, 1]]), _item([[2, 0], [1, 1]]), _item([[0, 0], [1, 1]])]
    val = [_item([[2, 0], [1, 1]]), _item([[0, 0], [1, 1]])]
    scores, train_counts = probe_positions(train, val, patch=2, num_classes=3, k=4)
    assert list(scores) == list(CLASSIFIERS)
    knn = scores['k-NN']
    # predicted: 2, 0, 1, 1 for both val images -> 7 of 8 tokens right (the second image's (0, 0) is 0)
    assert knn['accuracy'] == 7 / 8 * 100
    assert np.isclose(knn['iou'][2], 100 / 2)  # class 2: one true positive, one false positive
    assert knn['iou'][1] == 100.0 and np.isclose(knn['iou'][0], 2 / 3 * 100)
    assert train_counts == [5, 8, 3]


class _FakeBackbone:
    """Stands for the frozen ViT: the tokens of each image of a batch are ``encode(its token labels)``
    (C, h, w), the images taken in the order of ``labels``."""

    def __init__(self, labels, encode):
        self.labels, self.encode = labels, encode

    def __call__(self, x):
        import torch
        batch, self.labels = self.labels[:len(x)], self.labels[len(x):]
        return (torch.from_numpy(np.stack([self.encode(label) for label in batch])).float(),)


def _probe_with(monkeypatch, train, val, encode):
    from s3pt_mm.evaluation import frozen_tokens
    labels = [np.asarray(tokens) for tokens in train + val]
    monkeypatch.setattr(frozen_tokens, 'build_backbone', lambda checkpoint, patch: _FakeBackbone(labels, encode))
    image = np.zeros((4, 4, 3), np.uint8)
    items = [(image, *_item(tokens)[1:]) for tokens in train + val]
    scores, _ = frozen_tokens.probe_tokens('unused', items[:len(train)], items[len(train):], patch=2,
                                           num_classes=3, k=1)
    return scores


def test_logistic_with_position_adds_the_grid_position_to_the_token_features(monkeypatch):
    """Row 0 is class 2 or 0 (which one, only the features can tell), row 1 is always class 1. Class 2 is
    row 0's class in twice as many training images as class 0, so every majority below is unique: no
    answer depends on how a classifier breaks a tie."""
    train = [[[2, 2], [1, 1]]] * 4 + [[[0, 0], [1, 1]]] * 2
    val = [[[2, 2], [1, 1]], [[0, 0], [1, 1]]]
    # constant features: no information, so the logistic regression predicts one class everywhere, and with
    # the position appended it predicts what the position-only reference predicts
    blind = _probe_with(monkeypatch, train, val, lambda label: np.zeros((4, 2, 2), np.float32))
    assert list(blind) == list(CLASSIFIERS)
    assert blind['logistic']['classes_predicted'] == 1
    reference, _ = probe_positions([_item(t) for t in train], [_item(t) for t in val], patch=2, num_classes=3)
    # row 0 -> class 2 (its majority), row 1 -> class 1: class 2 has one true and one false positive row
    assert reference['logistic']['iou'] == [0.0, 100.0, 50.0]
    assert blind['logistic + position']['iou'] == reference['logistic']['iou']
    assert reference['logistic + position'] == reference['logistic']  # the positions are the features there
    # features that tell 2 from 0 but not row 0 from row 1 (both 1 and 2 map to one feature): only together
    # with the position are all three classes separated

    def encode(label):
        return np.stack([np.isin(label, (1, 2)).astype(np.float32), (label == 0).astype(np.float32)])
    partial = _probe_with(monkeypatch, train, val, encode)
    assert partial['logistic']['accuracy'] < 100.0
    assert partial['logistic + position']['accuracy'] == 100.0
