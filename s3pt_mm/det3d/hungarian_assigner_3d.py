"""One-to-one assignment of PETR's queries to ground-truth boxes (Hungarian matching, DETR style)."""
import torch
from mmdet.models.task_modules import AssignResult, BaseAssigner
from scipy.optimize import linear_sum_assignment

from mmdet3d.registry import TASK_UTILS

__all__ = ['HungarianAssigner3D']


@TASK_UTILS.register_module()
class HungarianAssigner3D(BaseAssigner):
    """Matches queries to ground truths minimising the summed match costs.

    The cost of query ``q`` and ground truth ``g`` is the sum of the configured match costs (PETR:
    ``mmdet.FocalLossCost`` on the classification logits plus :class:`BBox3DL1Cost` on the box codes);
    ``scipy.optimize.linear_sum_assignment`` finds the assignment of least total cost, every ground
    truth to one query when there are at least as many queries. Non-finite costs (diverging predictions)
    count as +-100, as in PETR, so the matching always exists.

    Args:
        match_costs (list[dict]): match cost configs (TASK_UTILS).
    """

    def __init__(self, match_costs):
        self.match_costs = [TASK_UTILS.build(cfg) for cfg in match_costs]

    def assign(self, pred_instances, gt_instances, img_meta=None, **kwargs):
        """Assign the queries of one sample.

        Args:
            pred_instances (InstanceData): ``scores`` (Q, num_classes) logits and ``bboxes`` (Q, 10) codes.
            gt_instances (InstanceData): ``labels`` (G,) and ``bboxes`` (G, 10) codes.

        Returns:
            AssignResult: ``gt_inds`` (Q,): 0 for background, ``g + 1`` for a query matched to ground
            truth ``g``; ``labels`` (Q,): the matched label or -1.
        """
        num_gts, num_preds = len(gt_instances), len(pred_instances)
        gt_labels = gt_instances.labels
        device = gt_labels.device
        gt_inds = torch.zeros(num_preds, dtype=torch.long, device=device)
        labels = torch.full((num_preds, ), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, None, labels=labels)

        cost = sum(match_cost(pred_instances, gt_instances, img_meta) for match_cost in self.match_costs)
        cost = torch.nan_to_num(cost.detach().float().cpu(), nan=100.0, posinf=100.0, neginf=-100.0)
        rows, cols = linear_sum_assignment(cost.numpy())
        rows = torch.as_tensor(rows, dtype=torch.long, device=device)
        cols = torch.as_tensor(cols, dtype=torch.long, device=device)
        gt_inds[rows] = cols + 1
        labels[rows] = gt_labels[cols]
        return AssignResult(num_gts, gt_inds, None, labels=labels)
