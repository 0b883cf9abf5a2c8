"""PETR's box coding (encode / decode, NMS-free top-k decoding) and its Hungarian assignment (mmdet's
``HungarianAssigner`` with ``FocalLossCost`` and our ``BBox3DL1Cost``, as the PETR configs build it)."""
import itertools
import math

import pytest
import torch
from mmengine.structures import InstanceData

pytest.importorskip('mmdet3d')
from mmdet3d.registry import TASK_UTILS  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from s3pt_mm.det3d import BBox3DL1Cost, NMSFreeCoder  # noqa: E402


def hungarian_assigner(match_costs):
    """The assigner of the PETR configs (configs/detection3d/_base_/petr_frozen_vit.py), built in mmdet3d's scope."""
    init_default_scope('mmdet3d')
    return TASK_UTILS.build(dict(type='mmdet.HungarianAssigner', match_costs=match_costs))


def test_encode_by_hand():
    box = torch.tensor([[1.0, 2.0, 3.0, math.e, 1.0, math.e**2, math.pi / 2, 0.5, -0.5]])
    code = NMSFreeCoder.encode(box)
    assert torch.allclose(code, torch.tensor([[1.0, 2.0, 3.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.5, -0.5]]), atol=1e-6)


def test_encode_decode_round_trip():
    generator = torch.Generator().manual_seed(0)
    boxes = torch.cat([
        torch.rand(50, 3, generator=generator) * 100 - 50,  # centre (m)
        torch.rand(50, 3, generator=generator) * 10 + 0.1,  # sizes (m)
        (torch.rand(50, 1, generator=generator) * 2 - 1) * math.pi * 0.999,  # yaw in (-pi, pi)
        torch.randn(50, 2, generator=generator) * 5,  # velocity (m/s)
    ], dim=1)
    assert torch.allclose(NMSFreeCoder.decode_codes(NMSFreeCoder.encode(boxes)), boxes, atol=1e-4)


def test_decode_codes_by_hand():
    code = torch.tensor([[1.0, -2.0, 0.5, 0.0, math.log(2.0), math.log(4.0), -1.0, -1.0, 3.0, 4.0]])
    # yaw = atan2(-1, -1) = -3 pi / 4; the code need not be normalised.
    expected = torch.tensor([[1.0, -2.0, 0.5, 1.0, 2.0, 4.0, -3 * math.pi / 4, 3.0, 4.0]])
    assert torch.allclose(NMSFreeCoder.decode_codes(code), expected, atol=1e-6)


def test_nms_free_decode_by_hand():
    coder = NMSFreeCoder(post_center_range=[-10, -10, -5, 10, 10, 5], max_num=3, num_classes=2)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    # Scores per (query, class): q0 (0.9, 0.2), q1 (0.3, 0.8), q2 (0.7, 0.1).
    logits = torch.tensor([[logit(0.9), logit(0.2)], [logit(0.3), logit(0.8)], [logit(0.7), logit(0.1)]])
    codes = torch.zeros(3, 10)
    codes[:, 7] = 1.0  # yaw 0, unit sizes
    codes[0, :3] = torch.tensor([1.0, 2.0, 0.0])
    codes[1, :3] = torch.tensor([50.0, 0.0, 0.0])  # centre outside post_center_range
    codes[2, :3] = torch.tensor([-3.0, 4.0, 1.0])
    out = coder.decode(logits, codes)
    # Top 3 of the 6 (query, class) scores: (q0, c0) 0.9, (q1, c1) 0.8, (q2, c0) 0.7; q1 is dropped.
    assert torch.allclose(out['scores'], torch.tensor([0.9, 0.7]))
    assert out['labels'].tolist() == [0, 0]
    assert torch.allclose(out['bboxes'], torch.tensor([[1.0, 2.0, 0.0, 1, 1, 1, 0, 0, 0],
                                                        [-3.0, 4.0, 1.0, 1, 1, 1, 0, 0, 0]]))
    thresholded = NMSFreeCoder(max_num=3, score_threshold=0.75, num_classes=2).decode(logits, codes)
    assert thresholded['labels'].tolist() == [0, 1] and torch.allclose(thresholded['scores'], torch.tensor([0.9, 0.8]))


def _instances(codes, logits=None, labels=None):
    if labels is not None:
        return InstanceData(bboxes=codes, labels=labels)
    return InstanceData(bboxes=codes, scores=logits)


def test_hungarian_assignment_known_optimum():
    assigner = hungarian_assigner([dict(type='BBox3DL1Cost', weight=1.0)])
    codes = lambda xy: torch.tensor([[x, y] + [0.0] * 8 for x, y in xy])  # noqa: E731
    # Queries A (0, 0), B (1, 2), E (50, 50); ground truths C (1, 0) and D (-2, 0). L1 costs:
    # A-C 1, A-D 2, B-C 2, B-D 5. Taking the cheapest pair first (A-C) leaves B-D: 6 in total; the
    # optimum is A-D + B-C = 4. E stays background.
    preds = _instances(codes([(0, 0), (1, 2), (50, 50)]), logits=torch.zeros(3, 3))
    gts = _instances(codes([(1, 0), (-2, 0)]), labels=torch.tensor([2, 1]))
    result = assigner.assign(preds, gts)
    assert result.gt_inds.tolist() == [2, 1, 0] and result.labels.tolist() == [1, 2, -1]
    assert result.num_gts == 2


def test_hungarian_assignment_matches_brute_force():
    generator = torch.Generator().manual_seed(1)
    assigner = hungarian_assigner([
        dict(type='mmdet.FocalLossCost', weight=2.0), dict(type='BBox3DL1Cost', weight=0.25)])
    focal = assigner.match_costs[0]
    l1 = BBox3DL1Cost(weight=0.25)
    preds = _instances(torch.randn(5, 10, generator=generator), logits=torch.randn(5, 4, generator=generator))
    gts = _instances(torch.randn(3, 10, generator=generator), labels=torch.tensor([0, 3, 3]))
    cost = focal(preds, gts) + l1(preds, gts)
    best = min(itertools.permutations(range(5), 3), key=lambda rows: sum(cost[r, g] for g, r in enumerate(rows)))
    gt_inds = assigner.assign(preds, gts).gt_inds
    assert [int((gt_inds == g + 1).nonzero()) for g in range(3)] == list(best)
    assert (gt_inds == 0).sum() == 2


def test_l1_cost_uses_first_eight_code_entries():
    pred = torch.zeros(1, 10)
    gt = torch.zeros(1, 10)
    gt[0, 8:] = 100.0  # velocity does not take part in the matching
    gt[0, 3] = 2.0
    cost = BBox3DL1Cost(weight=0.5)(InstanceData(bboxes=pred), InstanceData(bboxes=gt))
    assert cost.shape == (1, 1) and cost.item() == 1.0


def test_assignment_without_ground_truth():
    assigner = hungarian_assigner([dict(type='BBox3DL1Cost')])
    result = assigner.assign(_instances(torch.zeros(4, 10), logits=torch.zeros(4, 2)),
                             _instances(torch.zeros(0, 10), labels=torch.zeros(0, dtype=torch.long)))
    assert result.gt_inds.tolist() == [0, 0, 0, 0] and result.labels.tolist() == [-1] * 4
