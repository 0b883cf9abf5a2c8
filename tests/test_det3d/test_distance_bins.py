"""Table 10's distance ranges on a tiny hand-made set of ground truths and predictions, scored with the
nuScenes devkit's own matching and AP (101-point recall grid, recall and precision up to 10 % clipped)."""
import json

import pytest

pytest.importorskip('nuscenes')
from nuscenes.eval.common.data_classes import EvalBoxes  # noqa: E402
from nuscenes.eval.detection.data_classes import DetectionBox  # noqa: E402

from s3pt_mm.det3d.distance_eval import range_aps, range_detection_config, within_range  # noqa: E402

# Table 10 (ViT-S/16) and Table 4: per-class AP of DINO, CrIBo, S3PT.
TABLE10_0_30 = {'traffic_cone': (0.285, 0.287, 0.297), 'barrier': (0.418, 0.465, 0.430)}
TABLE10_0_60 = {'car': (0.276, 0.246, 0.299), 'truck': (0.166, 0.151, 0.195), 'bus': (0.077, 0.056, 0.135),
                'trailer': (0.122, 0.053, 0.168), 'pedestrian': (0.226, 0.205, 0.272),
                'motorcycle': (0.197, 0.196, 0.275), 'bicycle': (0.006, 0.005, 0.022),
                'traffic_cone': (0.263, 0.263, 0.285), 'barrier': (0.369, 0.343, 0.368)}
TABLE4_MAP = (0.1645, 0.1308, 0.1817)  # over 10 classes, construction vehicle included


def official_class_range():
    import nuscenes.eval.detection as detection
    with open(f'{detection.__path__[0]}/configs/detection_cvpr_2019.json') as f:
        return json.load(f)['class_range']


def test_the_capped_reading_contradicts_the_paper():
    """Capping the official ranges at R would make 0-60 m the standard evaluation and give the 30 m
    classes equal 0-30 / 0-60 APs; the paper's tables rule both out, the lifted reading does not."""
    official = official_class_range()
    for name in TABLE10_0_30:
        assert min(official[name], 30) == min(official[name], 60) == 30  # same filter under the capped reading
        assert TABLE10_0_30[name] != TABLE10_0_60[name]  # ... but different APs in Table 10
    assert max(official.values()) == 50  # capped at 60 = the official ranges
    for model in range(3):  # a 9-class sum cannot exceed the 10-class sum of the same evaluation
        assert sum(aps[model] for aps in TABLE10_0_60.values()) > 10 * TABLE4_MAP[model]
    config = range_detection_config(60.0)
    assert config.class_range == {name: 60.0 for name in official}
    assert config.dist_ths == [0.5, 1.0, 2.0, 4.0]


def _box(name, x, score=None):
    """A box ``x`` metres ahead of the ego vehicle (ego_dist = x); ground truth without a score."""
    return DetectionBox(sample_token='s', translation=(x, 0.0, 1.0), size=(4.0, 2.0, 1.5), rotation=(1, 0, 0, 0),
                        velocity=(0.0, 0.0), ego_translation=(x, 0.0, 1.0), num_pts=10 if score is None else -1,
                        detection_name=name, detection_score=-1.0 if score is None else score,
                        attribute_name='')


def _boxes(*boxes):
    out = EvalBoxes()
    out.add_boxes('s', list(boxes))
    return out


def test_ranges_on_a_tiny_set_by_hand():
    gt = _boxes(_box('car', 10.0), _box('car', 25.0), _box('traffic_cone', 35.0))
    pred = _boxes(_box('car', 10.0, score=0.9),  # exact
                  _box('car', 29.5, score=0.95),  # a false positive between 20 and 30 m, scored highest
                  _box('traffic_cone', 35.0, score=0.8))  # exact, beyond the cone's official 30 m
    config = range_detection_config(60.0)
    assert [b.translation[0] for b in within_range(pred, 30.0).all] == [10.0, 29.5]
    aps = {r: range_aps(gt, pred, r, config, classes=('car', 'traffic_cone')) for r in (20.0, 30.0, 60.0)}
    # 0-20 m: the car at 10 m and its exact prediction only: AP 1. No cone in range: AP 0.
    assert aps[20.0] == pytest.approx({'car': 1.0, 'traffic_cone': 0.0, 'mAP': 0.5})
    # 0-30 m: cars at 10 and 25 m; predictions ranked FP (29.5 m), TP (10 m): (recall, precision) = (0, 0),
    # (0.5, 0.5). Interpolated linearly on the recall grid r = k / 100: precision r up to r = 0.5, 0 above;
    # AP = mean over k = 11 .. 100 of max(p - 0.1, 0) / 0.9 = sum_{k=11}^{50} (k / 100 - 0.1) / 90 / 0.9.
    expected = sum(k / 100 - 0.1 for k in range(11, 51)) / 90 / 0.9
    assert aps[30.0]['car'] == pytest.approx(expected)
    # 0-60 m: the cone at 35 m counts (range lifted to 60 m for every class) and is found exactly.
    assert aps[60.0]['traffic_cone'] == pytest.approx(1.0) and aps[60.0]['car'] == pytest.approx(expected)
