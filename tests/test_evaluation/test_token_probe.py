"""The probe-independent token measures of s3pt_mm.evaluation.token_probe on hand-made labels and features."""
import numpy as np
import pytest

from s3pt_mm.evaluation.token_probe import (knn_predict, logistic_predict, patch_majority, token_ceiling,
                                            token_scores, upsample_tokens)


def test_patch_majority_counts_valid_pixels_only():
    label = np.zeros((4, 6), dtype=np.uint8)
    label[:2, 2:4] = 3          # patch (0, 1): all class 3
    label[2:, :2] = 255         # patch (1, 0): ignored except one pixel
    label[3, 1] = 2
    label[2:, 4:] = 255         # patch (1, 2): nothing valid
    label[:2, 4] = 1            # patch (0, 2): 2 of class 1 vs 2 of class 0 -> tie -> smaller id 0
    tokens = patch_majority(label, 2, num_classes=4)
    assert tokens.tolist() == [[0, 3, 0], [2, 0, 255]]


def test_patch_majority_rejects_a_size_that_is_not_a_multiple():
    with pytest.raises(ValueError, match='multiple'):
        patch_majority(np.zeros((5, 4), dtype=np.uint8), 2, 3)


def test_upsample_tokens_nearest_to_any_size():
    tokens = np.array([[1, 2], [3, 4]])
    assert upsample_tokens(tokens, (4, 4)).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert upsample_tokens(tokens, (3, 2)).tolist() == [[1, 2], [3, 4], [3, 4]]


def test_token_ceiling_loses_objects_smaller_than_a_patch():
    label = np.zeros((8, 8), dtype=np.uint8)
    label[:4, :4] = 1           # a whole patch: kept
    label[5, 5] = 2             # one pixel of a patch: lost
    confusion = token_ceiling(label, label, patch=4, num_classes=3)
    assert confusion[1, 1] == 16 and confusion[2, 2] == 0 and confusion[2, 0] == 1
    assert confusion.sum() == 64


def test_knn_and_logistic_recover_separable_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    y = np.repeat(np.arange(3), 40)
    x = centres[y] + rng.normal(size=(120, 16))
    test_y = np.repeat(np.arange(3), 10)
    test_x = centres[test_y] + rng.normal(size=(30, 16))
    assert (knn_predict(x, y, test_x, k=5) == test_y).all()
    assert (logistic_predict(x, y, test_x) == test_y).all()


def test_knn_votes_for_the_majority_of_neighbours():
    x = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1], [0.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    # the query is closest to the three class-0/0/1 points: majority 0 with k=3
    assert knn_predict(x, y, np.array([[1.0, 0.0]]), k=3).tolist() == [0]
    assert knn_predict(x, y, np.array([[0.0, 1.0]]), k=1).tolist() == [1]


def test_token_scores():
    truth = np.array([0, 0, 1, 1, 2])
    prediction = np.array([0, 1, 1, 1, 0])
    scores = token_scores(truth, prediction, num_classes=4)
    assert scores['accuracy'] == pytest.approx(60.0)
    # IoU: class 0 1/3, class 1 2/3, class 2 0, class 3 NaN (absent)
    assert scores['iou'][:3] == pytest.approx([100 / 3, 200 / 3, 0.0])
    assert np.isnan(scores['iou'][3])
    assert scores['miou'] == pytest.approx(100 / 3)
    assert scores['classes_predicted'] == 2
