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
