"""S3PT (and, as configurations of the same code, DINO and CrIBo) in mmpretrain.

Paper Eq. 1:  L = L^g_cv + L^o_cv + L^o_ci

* L^g_cv, global cross-view: DINO loss between the teacher's [CLS] distribution of one view and the
  student's of the other view.
* L^o_cv, object-level cross-view: the teacher's dense tokens of both views are clustered jointly
  (Sinkhorn spatial clustering, paper §3.2-3.3); tokens of each view are mean-pooled per cluster into
  object features (teacher and student alike, with the teacher's labels); clusters present in both views
  give object pairs, and the student's object of one view learns the teacher's object of the other.
* L^o_ci, object-level cross-image: each teacher object retrieves its nearest neighbour in a queue of
  teacher objects of earlier images; pairs passing the cycle-consistency test bootstrap the student's
  object of the other view towards the retrieved object (CrIBo).

Configurations (``configs/pretrain``): DINO = no ``clustering`` (global term only); CrIBo = 32 clusters,
5 Sinkhorn iterations, DINO softmax with logit centering; S3PT = 128 clusters, 1 iteration, depth term,
vMF-normalised softmax with probability centering (the ``semantic_loss`` settings).

Data contract (from :class:`s3pt_mm.datasets.transforms.PackMultiViewInputs`): ``inputs`` is a list of
two (B, 3, H, W) views; each data sample carries ``token_positions`` (2, P, 2) in original-image pixels,
``token_depths`` (2, P) in metres and ``token_depth_valid`` (2, P).
"""
import copy
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from ..utils import ObjectQueue, collapse_statistics, objects_in_both_views


@MODELS.register_module()
class S3PT(BaseSelfSupervisor):
    """Student/teacher ViT with global and object-level bootstrapping.

    Args:
        backbone (dict): mmpretrain ViT, e.g. ``dict(type='VisionTransformer', arch='deit-small',
            patch_size=16, drop_path_rate=0.1, out_type='raw')`` (the [CLS] token first).
        head (dict): :class:`DINOProjectionHead`.
        global_loss (dict): :class:`DINOLoss` for [CLS] tokens.
        object_loss (dict | None): :class:`DINOLoss` for object tokens (None for DINO).
        clustering (dict | None): :class:`SinkhornSpatialClustering` (None for DINO).
        queue_size (int): images whose objects the cross-image queue keeps (CrIBo 25000, S3PT 2500);
            0 disables L^o_ci. Its buffer holds ``queue_size * num_clusters`` objects (CrIBo's
            allocation): float32 features plus bfloat16 search keys, ``2 * queue_size * num_clusters *
            C * 6`` bytes (:class:`~s3pt_mm.models.utils.ObjectQueue`).
        cross_image_start_epoch (int): first epoch of L^o_ci (CrIBo: ``epoch >= 1``). The epoch is
            given by :meth:`set_epoch` (``ModelEpochHook``, computed from the iteration, so it also
            counts under iteration-based loops); training with a queue and no epoch set is an error.
        loss_weights (dict): weights of ``global``, ``object_cv`` and ``object_ci`` (all 1 in Eq. 1).
        data_preprocessor (dict): ``SelfSupDataPreprocessor`` settings.
    """

    def __init__(self, backbone: dict, head: dict, global_loss: dict, object_loss: Optional[dict] = None,
                 clustering: Optional[dict] = None, queue_size: int = 0, cross_image_start_epoch: int = 1,
                 loss_weights: Optional[Dict[str, float]] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=None, head=head, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if (clustering is None) != (object_loss is None):
            raise ValueError('`clustering` and `object_loss` go together: both (CrIBo/S3PT) or '
                             'neither (DINO)')
        self.global_loss = MODELS.build(global_loss)
        self.object_loss = MODELS.build(object_loss) if object_loss is not None else None
        self.clustering = MODELS.build(clustering) if clustering is not None else None
        self.loss_weights = dict(global_=1.0, object_cv=1.0, object_ci=1.0)
        for key, value in (loss_weights or {}).items():
            key = 'global_' if key == 'global' else key
            if key not in self.loss_weights:
                raise KeyError(f'unknown loss weight {key!r}; expected global, object_cv, object_ci')
            self.loss_weights[key] = value
        self.cross_image_start_epoch = cross_image_start_epoch
        self.epoch: Optional[int] = None
        # Set by CollapseMonitorHook for the steps whose teacher statistics it logs.
        self.collect_collapse_statistics = False
        self.collapse_statistics: Dict[str, Dict[str, float]] = {}
        self.queue = None
        if self.clustering is not None and queue_size > 0:
            self.queue = ObjectQueue(queue_size, self.clustering.num_clusters, self.backbone.embed_dims)
        # The teacher: same architecture, no gradient, always in eval mode (no drop path), updated by
        # TeacherEMAHook. Its weights are copied from the student in init_weights().
        self.teacher = torch.nn.ModuleDict(
            dict(backbone=copy.deepcopy(self.backbone), head=copy.deepcopy(self.head)))
        self.teacher.requires_grad_(False)

    # ---------------------------------------------------------------- teacher management
    def init_weights(self) -> None:
        super().init_weights()
        self.teacher.backbone.load_state_dict(self.backbone.state_dict())
        self.teacher.head.load_state_dict(self.head.state_dict())

    def train(self, mode: bool = True) -> 'S3PT':
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student (parameters; buffers copied)."""
        for student, teacher in ((self.backbone, self.teacher.backbone), (self.head, self.teacher.head)):
            s_params, t_params = list(student.parameters()), list(teacher.parameters())
            torch._foreach_mul_(t_params, momentum)
            torch._foreach_add_(t_params, [p.detach() for p in s_params], alpha=1 - momentum)
            for s_buf, t_buf in zip(student.buffers(), teacher.buffers()):
                t_buf.copy_(s_buf)

    def set_epoch(self, epoch: int) -> None:
        """The current (0-based) training epoch, for the start of L^o_ci."""
        self.epoch = epoch

    def set_teacher_temperature(self, temperature: float) -> None:
        for loss in (self.global_loss, self.object_loss):
            if loss is not None:
                loss.teacher_temp = temperature

    # ---------------------------------------------------------------- forward
    def extract_feat(self, inputs: Tensor, data_samples: Optional[List[DataSample]] = None) -> Tensor:
        """Backbone tokens of the student (B, 1 + P, C)."""
        return self.backbone(inputs)[-1]

    @staticmethod
    def _stack_field(data_samples, name, device):
        return torch.stack([torch.as_tensor(getattr(s, name)) for s in data_samples]).to(device)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, Tensor]:
        """Eq. 1. ``inputs``: [global view 1, global view 2, *local views] (DINO's multi-crop: local
        views, if any, go through the student only and enter the global term)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('S3PT expects at least two global views per image '
                             '(inputs = [view1, view2, *local_views])')
        batch = inputs[0].shape[0]
        views = torch.cat(list(inputs[:2]))
        with torch.no_grad():
            t_tokens = self.teacher.backbone(views)[-1]  # (2B, 1 + P, C)
        s_tokens = self.backbone(views)[-1]

        # L^g_cv: the teacher's [CLS] distribution of each global view teaches the student's [CLS]
        # of every other view.
        crit = self.global_loss
        t_probs_all = crit.teacher_targets(self.teacher.head, t_tokens[:, 0], 'global')
        self._record_collapse_statistics('global', t_probs_all)
        t_probs = t_probs_all.chunk(2)
        s_cls = [s_tokens[:, 0]]
        if len(inputs) > 2:
            s_cls.append(self.backbone(torch.cat(list(inputs[2:])))[-1][:, 0])
        s_logits = crit.student_logits(self.head, torch.cat(s_cls), 'global').split(batch)
        terms = [term.mean() for v in range(len(s_logits))
                 for term in crit.cross_entropy(s_logits[v], *[t_probs[t] for t in range(2) if t != v])]
        losses = dict(loss_global=self.loss_weights['global_'] * sum(terms) / len(terms))
        if self.clustering is None:
            return losses
        losses.update(self._object_losses(t_tokens, s_tokens, batch, data_samples))
        return losses

    def _record_collapse_statistics(self, kind: str, teacher_probs: Tensor) -> None:
        if self.collect_collapse_statistics and teacher_probs.shape[0] > 0:
            self.collapse_statistics[kind] = collapse_statistics(teacher_probs)

    def _object_losses(self, t_tokens: Tensor, s_tokens: Tensor, batch: int,
                       data_samples: List[DataSample]) -> Dict[str, Tensor]:
        """L^o_cv and L^o_ci. Every step runs the same operations and collectives on every rank, also
        when no cluster is shared by the two views of any image of this rank's batch (O = 0): the
        object terms are then 0 with the object prototypes still in the graph, so DDP needs no
        unused-parameter search and no rank waits for another at a collective it skipped."""
        device = t_tokens.device
        num_patches, channels = t_tokens.shape[1] - 1, t_tokens.shape[2]

        def per_image(tokens):  # (2B, 1 + P, C) -> (B, 2, P, C)
            return tokens[:, 1:].reshape(2, batch, num_patches, channels).transpose(0, 1)

        t_patches, s_patches = per_image(t_tokens), per_image(s_tokens)
        positions = self._stack_field(data_samples, 'token_positions', device).float()
        depths = self._stack_field(data_samples, 'token_depths', device).float()
        valid = self._stack_field(data_samples, 'token_depth_valid', device).bool()
        depths = torch.where(valid, depths, torch.zeros_like(depths))
        labels = self.clustering(
            t_patches.reshape(batch, 2 * num_patches, channels).float(),
            positions.reshape(batch, 2 * num_patches, 2),
            depths.reshape(batch, 2 * num_patches)).reshape(batch, 2, num_patches)

        num_clusters = self.clustering.num_clusters
        # Teacher and student objects in one pooling (channels side by side): one host synchronisation
        # (the number of shared clusters) per step.
        objects_v1, objects_v2, shared = objects_in_both_views(torch.cat([t_patches, s_patches], dim=-1),
                                                               labels, num_clusters)
        t_o1, s_o1 = objects_v1.split(channels, dim=-1)
        t_o2, s_o2 = objects_v2.split(channels, dim=-1)
        num_objects = t_o1.shape[0]
        losses = dict(num_objects=t_tokens.new_tensor(num_objects / batch))

        # Retrieval for L^o_ci first (the queue as it was before this step), so that the teacher's head
        # projects this step's objects and their neighbours in one call. The student's rows are its objects
        # of view 1 then view 2; the teacher's rows are ordered to match their teachers: the objects of the
        # other view (L^o_cv), then the neighbours retrieved for the other view's objects (L^o_ci).
        head, t_head, crit = self.head, self.teacher.head, self.object_loss
        neighbours = self.queue.cycle_consistent_neighbours(t_o1, t_o2) if self.queue is not None else None
        t_inputs = [t_o2, t_o1] + ([neighbours[2], neighbours[0]] if neighbours is not None else [])
        t_probs = crit.teacher_targets(t_head, torch.cat(t_inputs), 'object', center_rows=2 * num_objects)
        targets = (t_probs[:2 * num_objects], ) + ((t_probs[2 * num_objects:], ) if neighbours is not None else ())
        self._record_collapse_statistics('object', targets[0])
        terms = crit.cross_entropy(crit.student_logits(head, torch.cat([s_o1, s_o2]), 'object'), *targets)

        # L^o_cv: mean over the O objects of both directions, halved (CrIBo); 0 when O = 0.
        cross_view = terms[0].sum() / max(num_objects, 1)
        losses['loss_object_cv'] = self.loss_weights['object_cv'] * 0.5 * cross_view

        # L^o_ci
        if self.queue is not None:
            losses['loss_object_ci'] = self._cross_image_loss(terms[1][num_objects:], terms[1][:num_objects],
                                                              neighbours[1], neighbours[3])
            self.queue.enqueue(t_o1, t_o2, shared.sum(dim=1))
        return losses

    def _cross_image_loss(self, term_v2: Tensor, term_v1: Tensor, mask_v1: Tensor, mask_v2: Tensor) -> Tensor:
        """L^o_ci as CrIBo computes it (``CrIBoLoss.forward``): with n_1 the number of view-1 objects that
        pass the cycle test, ``(sum of the view-1 terms + sum of the view-2 terms) / n_1 / 2`` when
        ``n_1 > 0`` and the epoch has reached ``cross_image_start_epoch``, else 0. The view-1 neighbours
        teach the student's view 2 and vice versa. Computed with masks, without host synchronisation: the
        terms of objects without a valid neighbour (and all terms before the start epoch) are selected
        away (``torch.where``), never multiplied by 0, so whatever value they hold never reaches the loss.

        Args:
            term_v2: (O,) cross-entropies of the student's view-2 objects against the teacher's
                distributions of the neighbours retrieved for view 1.
            term_v1: (O,) the same for the student's view-1 objects and the view-2 neighbours.
            mask_v1, mask_v2: (O,) bool, the objects of view 1 / view 2 passing the cycle test.
        """
        if self.epoch is None:
            raise RuntimeError('S3PT.set_epoch() was never called: the cross-image term L^o_ci starts at '
                               f'epoch {self.cross_image_start_epoch}. Add dict(type="ModelEpochHook") to '
                               'custom_hooks (the pre-training configs of s3pt_mm do).')
        num_v1 = mask_v1.sum()
        total = torch.where(mask_v1, term_v2, 0.0).sum() + torch.where(mask_v2, term_v1, 0.0).sum()
        active = (num_v1 > 0) & (self.epoch >= self.cross_image_start_epoch)
        return self.loss_weights['object_ci'] * torch.where(active, total / num_v1.clamp_min(1) / 2, 0.0)
