"""Cluster-quality and colour-baseline metrics on hand-made cases whose answers are known."""
import numpy as np
import pytest

from s3pt_mm.evaluation import (ColourLookupClassifier, adjusted_rand_index, confusion_matrix, instance_purity,
                                iou_from_confusion, own_cluster, partition_scores, token_majority)


def test_ari_by_hand_and_invariances():
    a, b = np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])
    # Contingency [[2, 1, 0], [0, 1, 2]]: sum C(n_ij) = 2, rows 6, columns 3, C(6) = 15, E = 6 * 3 / 15 = 1.2,
    # max = 4.5 -> (2 - 1.2) / (4.5 - 1.2).
    assert adjusted_rand_index(a, b) == pytest.approx(0.8 / 3.3)
    assert adjusted_rand_index(b, a) == pytest.approx(0.8 / 3.3)
    assert adjusted_rand_index(a, 7 - 3 * a) == pytest.approx(1.0)  # Renaming the parts changes nothing.
    assert adjusted_rand_index(np.zeros(5), np.zeros(5)) == 1.0
    assert adjusted_rand_index(np.zeros(4), np.arange(4)) == pytest.approx(0.0)


def test_ari_matches_sklearn_on_random_labelings():
    metrics = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 5, 60), rng.integers(0, 7, 60)
        b[:30] = a[:30]
        assert adjusted_rand_index(a, b) == pytest.approx(metrics.adjusted_rand_score(a, b), abs=1e-12)


def test_purity_counts_only_object_clusters():
    clusters = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    instances = np.array([5, 5, 5, -1, 7, 7, -1, -1])
    # Cluster 0: 3 of 4 on object 5; cluster 1: 2 of 2 on object 7; cluster 2 is background's.
    assert instance_purity(clusters, instances) == pytest.approx(5 / 6)
    assert np.isnan(instance_purity(np.array([0, 0]), np.array([-1, -1])))


def test_own_cluster_two_adjacent_cars():
    """Paper Figure 1: two adjacent cars (1, 2) in the background; a third, small object (3)."""
    instances = np.array([-1, -1, -1, -1, -1, 1, 1, 1, 2, 2, 2, 3])
    merged = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0])  # Both cars one cluster, object 3 in background.
    split = np.array([0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 4])  # Car 1 split in two, car 2 and object 3 alone.
    assert own_cluster(merged, instances) == {1: False, 2: False, 3: False}
    assert own_cluster(split, instances) == {1: True, 2: True, 3: True}
    scores = partition_scores(split, instances)
    assert scores['purity'] == 1.0 and scores['fg_ari'] < 1.0  # Pure, but car 1 is split.
    assert partition_scores(instances + 1, instances) == dict(purity=1.0, ari=1.0, fg_ari=1.0)


def test_token_majority():
    label_map = np.array([[1, 1, 2, 2],
                          [1, 3, 2, -1],
                          [0, 0, 5, 6],
                          [4, 4, 6, 5]])
    # Blocks: {1,1,1,3} -> 1; {2,2,2,-1} -> 2; {0,0,4,4} tie -> 0; {5,6,6,5} tie -> 5.
    np.testing.assert_array_equal(token_majority(label_map, 2), [[1, 2], [0, 5]])
    with pytest.raises(ValueError):
        token_majority(label_map, 3)


def test_colour_classifier_and_iou_by_hand():
    """Colour A is class 1 on 3 pixels out of 4 and class 2 on the other; colour B is always class 0."""
    image = np.zeros((2, 4, 3), np.uint8)
    image[0] = (200, 10, 10)  # A
    image[1] = (10, 10, 200)  # B
    label = np.array([[1, 1, 1, 2], [0, 0, 0, 255]])  # 255 is ignored.
    classifier = ColourLookupClassifier(num_classes=3, bins=16).fit(image, label)
    prediction = classifier.predict(image)
    np.testing.assert_array_equal(prediction, [[1, 1, 1, 1], [0, 0, 0, 0]])
    confusion = confusion_matrix(label, prediction, 3)
    np.testing.assert_array_equal(confusion, [[3, 0, 0], [0, 3, 0], [0, 1, 0]])
    # IoU: class 0 3/3, class 1 3/(3 + 1), class 2 0/1.
    np.testing.assert_allclose(iou_from_confusion(confusion), [1.0, 0.75, 0.0])
    unseen = np.full((1, 1, 3), 120, np.uint8)  # A cell without training pixels: the most frequent class.
    assert classifier.predict(unseen)[0, 0] == 0  # Classes 0 and 1 have 3 pixels each: the smaller id.
    assert np.isnan(iou_from_confusion(np.zeros((2, 2), np.int64))).all()
