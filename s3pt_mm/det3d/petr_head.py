"""PETR's detection head: 3D position-aware features, object queries, decoder, losses and decoding.

Pipeline of :meth:`PETRHead.forward` for features (B, N, C_in, h, w) of N cameras:

1. a 1x1 convolution (``input_proj``) projects the ``in_channels`` of the backbone (384 / 768 for ViT-S /
   ViT-B: Table 8's "head hidden dim. 384/784") to the transformer's ``embed_dims`` (256, as mmdetection3d's
   PETR, whose width is fixed there; configurable here);
2. the keys' position embedding is PETR's 3D position embedding
   (:class:`~s3pt_mm.det3d.positional_encoding.PositionEmbedding3D`) plus an MLP of the (camera, row,
   column) sine embedding;
3. ``num_query`` learnt reference points in ``[0, 1]^3`` (normalised to ``pc_range``) give the queries'
   position embeddings; the decoder (:class:`~s3pt_mm.det3d.transformer.PETRTransformerDecoder`) attends
   to all ``N h w`` feature tokens (padding masked);
4. shared classification and regression branches read every decoder layer; the regressed centre is
   ``sigmoid(offset + logit(reference point))`` mapped back to metres, so boxes come out as the codes of
   :class:`~s3pt_mm.det3d.nms_free_coder.NMSFreeCoder` (centre in metres).

Decoder outputs that are not finite are zeroed before the branches (as the PETR port), so the Hungarian
matching (mmdet's ``HungarianAssigner`` with ``FocalLossCost`` and :class:`BBox3DL1Cost`) always gets finite
costs. Training matches the queries to the ground truths of every layer and sums
focal loss (all queries) and weighted L1 on the codes (matched queries), normalised by the number of
ground truths. Testing decodes the last layer's top scores (no NMS) into ``LiDARInstance3DBoxes``.
"""
import torch
import torch.nn.functional as F
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import nn

from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import LiDARInstance3DBoxes
from .positional_encoding import lidar2img_tensor, multiview_sine_embed, sine_embed_3d

__all__ = ['PETRHead']


@MODELS.register_module()
class PETRHead(BaseModule):
    """PETR head.

    Args:
        num_classes (int): object classes.
        in_channels (int): channels of the image features.
        embed_dims (int): hidden dims of the queries, tokens and decoder (256 in the PETR port).
        num_query (int): object queries (900).
        num_reg_fcs (int): hidden layers of the classification / regression branches.
        decoder (dict): decoder config (``embed_dims`` is set here).
        position_embedding (dict): 3D position embedding config (``embed_dims`` is set here).
        pc_range (list[float]): ``[x0, y0, z0, x1, y1, z1]`` (metres) of the reference points and
            predicted centres.
        bbox_coder (dict): :class:`NMSFreeCoder` config.
        loss_cls (dict): classification loss (sigmoid focal loss, background = ``num_classes``).
        loss_bbox (dict): regression loss on the codes.
        code_weights (list[float]): per-entry weights of the 10-entry code in the regression loss.
        train_cfg (dict): ``assigner``: the Hungarian assigner config (``mmdet.HungarianAssigner``).
    """

    def __init__(self,
                 num_classes,
                 in_channels,
                 embed_dims=256,
                 num_query=900,
                 num_reg_fcs=2,
                 decoder=dict(type='PETRTransformerDecoder'),
                 position_embedding=dict(type='PositionEmbedding3D'),
                 pc_range=(-51.2, -51.2, -5.0, 51.2, 51.2, 3.0),
                 bbox_coder=dict(type='NMSFreeCoder'),
                 loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                 loss_bbox=dict(type='mmdet.L1Loss', loss_weight=0.25),
                 code_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2),
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg)
        if embed_dims % 2:
            raise ValueError(f'embed_dims must be even (sine embeddings), got {embed_dims}')
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_query = num_query
        self.pc_range = list(pc_range)
        self.bbox_coder = TASK_UTILS.build(dict(bbox_coder, num_classes=num_classes))
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.register_buffer('code_weights', torch.tensor(code_weights, dtype=torch.float32), persistent=False)
        self.assigner = TASK_UTILS.build(train_cfg['assigner']) if train_cfg else None

        self.input_proj = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        self.position_embedding = MODELS.build(dict(position_embedding, embed_dims=embed_dims))
        self.adapt_pos2d = nn.Sequential(
            nn.Conv2d(embed_dims * 3 // 2, embed_dims * 4, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(embed_dims * 4, embed_dims, kernel_size=1))
        self.reference_points = nn.Embedding(num_query, 3)
        self.query_embedding = nn.Sequential(
            nn.Linear(embed_dims * 3 // 2, embed_dims), nn.ReLU(inplace=True), nn.Linear(embed_dims, embed_dims))
        self.decoder = MODELS.build(dict(decoder, embed_dims=embed_dims))
        cls_layers, reg_layers = [], []
        for _ in range(num_reg_fcs):
            cls_layers += [nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims), nn.ReLU(inplace=True)]
            reg_layers += [nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True)]
        self.cls_branch = nn.Sequential(*cls_layers, nn.Linear(embed_dims, num_classes))
        self.reg_branch = nn.Sequential(*reg_layers, nn.Linear(embed_dims, len(code_weights)))

    def init_weights(self):
        """Decoder as DETR, reference points uniform in the unit cube, class prior 0.01."""
        super().init_weights()
        nn.init.uniform_(self.reference_points.weight, 0.0, 1.0)
        nn.init.constant_(self.cls_branch[-1].bias, bias_init_with_prob(0.01))

    @staticmethod
    def padding_masks(batch_img_metas, feat_hw, device):
        """(B, N, h, w) bool, True where a feature cell lies in the padding of the network input.

        Uses each sample's ``img_shape`` (valid height, width of every view) and ``batch_input_shape``
        (padded size of the batch, set by ``Det3DDataPreprocessor``).
        """
        pad_h, pad_w = batch_img_metas[0]['batch_input_shape']
        num_views = len(batch_img_metas[0]['lidar2cam'])
        masks = torch.ones(len(batch_img_metas), num_views, pad_h, pad_w, device=device)
        for mask, meta in zip(masks, batch_img_metas):
            img_h, img_w = meta['img_shape'][:2]
            mask[:, :img_h, :img_w] = 0
        return F.interpolate(masks, size=feat_hw, mode='nearest').bool()

    def forward(self, feats, batch_img_metas):
        """Classification logits and box codes of every decoder layer.

        Args:
            feats (Tensor): (B, N, C_in, h, w) image features of the N cameras.
            batch_img_metas (list[dict]): per sample ``lidar2img`` (or ``cam2img`` and ``lidar2cam``),
                ``img_shape``, ``batch_input_shape``.

        Returns:
            tuple[Tensor, Tensor]: logits (L, B, Q, num_classes) and codes (L, B, Q, 10) of the L layers.
        """
        batch, views, _, h, w = feats.shape
        dims = self.embed_dims
        x = self.input_proj(feats.flatten(0, 1)).view(batch, views, dims, h, w)
        masks = self.padding_masks(batch_img_metas, (h, w), feats.device)
        lidar2img = lidar2img_tensor(batch_img_metas, feats.device)
        pos = self.position_embedding((h, w), batch_img_metas[0]['batch_input_shape'], lidar2img)
        pos = pos + self.adapt_pos2d(multiview_sine_embed(masks, dims // 2).flatten(0, 1)).view_as(pos)

        memory = x.permute(0, 1, 3, 4, 2).reshape(batch, views * h * w, dims)
        key_pos = pos.permute(0, 1, 3, 4, 2).reshape(batch, views * h * w, dims)
        reference = self.reference_points.weight
        query_pos = self.query_embedding(sine_embed_3d(reference, dims // 2)).expand(batch, -1, -1)
        hidden = torch.nan_to_num(self.decoder(query_pos, memory, key_pos, key_padding_mask=masks.flatten(1)))

        logits = self.cls_branch(hidden)
        codes = self.reg_branch(hidden)
        unit_center = (codes[..., :3] + inverse_sigmoid(reference)).sigmoid()
        low, high = codes.new_tensor(self.pc_range[:3]), codes.new_tensor(self.pc_range[3:])
        return logits, torch.cat([low + unit_center * (high - low), codes[..., 3:]], dim=-1)

    def loss(self, feats, batch_data_samples):
        """Losses of a batch: ``loss_cls`` / ``loss_bbox`` of the last layer, ``d{i}.loss_*`` of the others."""
        logits, codes = self(feats, [ds.metainfo for ds in batch_data_samples])
        return self.loss_by_feat(logits, codes, [ds.gt_instances_3d for ds in batch_data_samples])

    def loss_by_feat(self, all_logits, all_codes, batch_gt_instances_3d):
        """Losses from the outputs of :meth:`forward`.

        Args:
            batch_gt_instances_3d (list[InstanceData]): ``bboxes_3d`` (LiDARInstance3DBoxes with
                velocity, 9 dims) and ``labels_3d`` of each sample.
        """
        device = all_logits.device
        gt_labels = [gt.labels_3d.to(device) for gt in batch_gt_instances_3d]
        gt_codes = [
            self.bbox_coder.encode(torch.cat([gt.bboxes_3d.gravity_center, gt.bboxes_3d.tensor[:, 3:9]], dim=1)
                                   .to(device)) for gt in batch_gt_instances_3d
        ]
        losses = {}
        num_layers = len(all_logits)
        for layer, (logits, codes) in enumerate(zip(all_logits, all_codes)):
            prefix = '' if layer == num_layers - 1 else f'd{layer}.'
            losses[f'{prefix}loss_cls'], losses[f'{prefix}loss_bbox'] = self._layer_loss(
                logits, codes, gt_codes, gt_labels)
        return losses

    def _layer_loss(self, logits, codes, gt_codes, gt_labels):
        """Focal and L1 losses of one decoder layer: logits (B, Q, K), codes (B, Q, 10)."""
        labels = torch.full(logits.shape[:2], self.num_classes, dtype=torch.long, device=logits.device)
        targets = torch.zeros_like(codes)
        weights = torch.zeros_like(codes)
        for b in range(len(logits)):
            assigned = self.assigner.assign(
                InstanceData(scores=logits[b].detach(), bboxes=codes[b].detach()),
                InstanceData(labels=gt_labels[b], bboxes=gt_codes[b]))
            pos = assigned.gt_inds > 0
            matched = assigned.gt_inds[pos] - 1
            labels[b, pos] = gt_labels[b][matched]
            targets[b, pos] = gt_codes[b][matched]
            weights[b, pos] = self.code_weights
        num_pos = reduce_mean(logits.new_tensor(float(sum(len(g) for g in gt_labels)))).clamp(min=1.0).item()
        loss_cls = self.loss_cls(logits.flatten(0, 1), labels.flatten(), avg_factor=num_pos)
        loss_bbox = self.loss_bbox(codes.flatten(0, 1), targets.flatten(0, 1), weights.flatten(0, 1),
                                   avg_factor=num_pos)
        return loss_cls, loss_bbox

    def predict(self, feats, batch_data_samples):
        """Decoded boxes of the last layer, one InstanceData per sample (see :meth:`predict_by_feat`)."""
        logits, codes = self(feats, [ds.metainfo for ds in batch_data_samples])
        return self.predict_by_feat(logits[-1], codes[-1])

    def predict_by_feat(self, logits, codes):
        """Boxes from the last layer's logits (B, Q, K) and codes (B, Q, 10).

        Returns:
            list[InstanceData]: ``bboxes_3d`` (LiDARInstance3DBoxes, 9 dims, bottom centre), ``scores_3d``,
            ``labels_3d`` of each sample.
        """
        results = []
        for sample_logits, sample_codes in zip(logits, codes):
            decoded = self.bbox_coder.decode(sample_logits, sample_codes)
            bboxes = LiDARInstance3DBoxes(decoded['bboxes'], box_dim=9, origin=(0.5, 0.5, 0.5))
            results.append(InstanceData(bboxes_3d=bboxes, scores_3d=decoded['scores'], labels_3d=decoded['labels']))
        return results
