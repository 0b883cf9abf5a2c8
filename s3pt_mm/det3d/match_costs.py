"""3D box match cost for PETR's Hungarian assignment (the classification cost is mmdet's ``FocalLossCost``)."""
import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost

from mmdet3d.registry import TASK_UTILS

__all__ = ['BBox3DL1Cost']


@TASK_UTILS.register_module()
class BBox3DL1Cost(BaseMatchCost):
    """Weighted L1 distance between predicted and ground-truth box codes.

    Codes are those of :class:`~s3pt_mm.det3d.nms_free_coder.NMSFreeCoder`; the cost uses their first
    ``num_dims`` entries (8: centre in metres, log sizes, sin / cos yaw; the velocity does not take part
    in the matching, as in PETR).

    Args:
        weight (float): cost weight (equal to the L1 loss weight).
        num_dims (int): code entries compared.
    """

    def __init__(self, weight=1.0, num_dims=8):
        super().__init__(weight=weight)
        self.num_dims = num_dims

    def __call__(self, pred_instances, gt_instances, img_meta=None, **kwargs):
        """(Q, G) cost from ``pred_instances.bboxes`` (Q, 10) and ``gt_instances.bboxes`` (G, 10) codes."""
        pred = pred_instances.bboxes[:, :self.num_dims]
        gt = gt_instances.bboxes[:, :self.num_dims]
        return torch.cdist(pred, gt, p=1) * self.weight
