"""Box coding of PETR's regression targets and the NMS-free decoding of its predictions.

Boxes are mmdet3d LiDAR boxes with velocity, 9 numbers ``[x, y, z, l, w, h, yaw, vx, vy]``: centre
``(x, y, z)`` (metres; this module uses the gravity centre, ``LiDARInstance3DBoxes.gravity_center``),
sizes along the box's x, y, z axes (metres), ``yaw`` the rotation about the LiDAR z axis from its x axis
(radians), velocity in the LiDAR frame (m/s). Their 10-number code is
``[x, y, z, log l, log w, log h, sin yaw, cos yaw, vx, vy]``: every entry is regressed with L1 and the
decoding is well defined for any code (``yaw = atan2(sin, cos)``).
"""
import torch
from mmdet.models.task_modules import BaseBBoxCoder

from mmdet3d.registry import TASK_UTILS

__all__ = ['NMSFreeCoder']


@TASK_UTILS.register_module()
class NMSFreeCoder(BaseBBoxCoder):
    """Encodes LiDAR boxes into PETR's regression code; decodes the top-scoring queries without NMS.

    Args:
        post_center_range (list[float], optional): ``[x0, y0, z0, x1, y1, z1]`` (metres); decoded boxes
            whose centre lies outside are dropped.
        max_num (int): boxes kept per sample (the top ``max_num`` (query, class) scores).
        score_threshold (float, optional): boxes with a lower score are dropped.
        num_classes (int): classes of the classification logits.
    """

    def __init__(self, post_center_range=None, max_num=300, score_threshold=None, num_classes=10):
        super().__init__()
        self.post_center_range = post_center_range
        self.max_num = max_num
        self.score_threshold = score_threshold
        self.num_classes = num_classes

    @staticmethod
    def encode(bboxes):
        """(M, 9) boxes ``[x, y, z, l, w, h, yaw, vx, vy]`` -> (M, 10) codes."""
        center, size, yaw, velocity = bboxes[:, :3], bboxes[:, 3:6], bboxes[:, 6:7], bboxes[:, 7:9]
        return torch.cat([center, size.log(), yaw.sin(), yaw.cos(), velocity], dim=-1)

    @staticmethod
    def decode_codes(codes):
        """(M, 10) codes -> (M, 9) boxes ``[x, y, z, l, w, h, yaw, vx, vy]`` with yaw in (-pi, pi]."""
        yaw = torch.atan2(codes[:, 6:7], codes[:, 7:8])
        return torch.cat([codes[:, :3], codes[:, 3:6].exp(), yaw, codes[:, 8:10]], dim=-1)

    def decode(self, cls_logits, codes):
        """Boxes of one sample: the top ``max_num`` sigmoid scores over all (query, class) pairs.

        Args:
            cls_logits (Tensor): (Q, num_classes) classification logits.
            codes (Tensor): (Q, 10) box codes (centres in metres).

        Returns:
            dict: ``bboxes`` (M, 9) gravity-centred boxes, ``scores`` (M,), ``labels`` (M,) long.
        """
        scores, index = cls_logits.sigmoid().flatten().topk(min(self.max_num, cls_logits.numel()))
        labels = index % self.num_classes
        bboxes = self.decode_codes(codes[torch.div(index, self.num_classes, rounding_mode='floor')])
        keep = torch.ones_like(scores, dtype=torch.bool)
        if self.score_threshold is not None:
            keep &= scores > self.score_threshold
        if self.post_center_range is not None:
            center_range = bboxes.new_tensor(self.post_center_range)
            keep &= ((bboxes[:, :3] >= center_range[:3]) & (bboxes[:, :3] <= center_range[3:])).all(dim=1)
        return dict(bboxes=bboxes[keep], scores=scores[keep], labels=labels[keep])
