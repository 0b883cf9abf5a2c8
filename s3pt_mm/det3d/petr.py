"""PETR (Liu et al., ECCV 2022): multi-view camera 3D object detector with 3D position-aware features."""
from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS

__all__ = ['PETR']


@MODELS.register_module()
class PETR(Base3DDetector):
    """Multi-view images -> image backbone (one feature map per view) -> :class:`PETRHead`.

    Inputs are ``inputs['imgs']`` (B, N, 3, H, W): N cameras per sample, normalised and padded by
    ``Det3DDataPreprocessor``; each data sample's metainfo carries the geometry of its views
    (``lidar2img`` (N, 4, 4) from the LiDAR frame to the pixels of the network input, kept up to date
    by the image augmentations of :mod:`s3pt_mm.det3d.transforms`) and ``gt_instances_3d`` in training.

    Args:
        img_backbone (dict): image backbone, applied to the B N images; its last output is used
            (e.g. :class:`~s3pt_mm.models.FrozenPretrainedViT`: stride 16).
        pts_bbox_head (dict): :class:`PETRHead` config (``train_cfg`` / ``test_cfg`` are passed to it).
        grid_mask (dict, optional): :class:`GridMask` config, applied to the images in training.
    """

    def __init__(self, img_backbone, pts_bbox_head, grid_mask=None, train_cfg=None, test_cfg=None,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.grid_mask = MODELS.build(grid_mask) if grid_mask is not None else None
        self.pts_bbox_head = MODELS.build(dict(pts_bbox_head, train_cfg=train_cfg, test_cfg=test_cfg))

    def extract_feat(self, imgs):
        """(B, N, 3, H, W) images -> (B, N, C, h, w) features of the backbone's last output."""
        batch, views = imgs.shape[:2]
        imgs = imgs.flatten(0, 1)
        if self.grid_mask is not None:
            imgs = self.grid_mask(imgs)
        feats = self.img_backbone(imgs)[-1]
        return feats.view(batch, views, *feats.shape[1:])

    def loss(self, inputs, data_samples, **kwargs):
        """Dict of the head's losses."""
        return self.pts_bbox_head.loss(self.extract_feat(inputs['imgs']), data_samples)

    def predict(self, inputs, data_samples, **kwargs):
        """Data samples with ``pred_instances_3d`` (LiDAR boxes, scores, labels) set."""
        results = self.pts_bbox_head.predict(self.extract_feat(inputs['imgs']), data_samples)
        return self.add_pred_to_datasample(data_samples, results)

    def _forward(self, inputs, data_samples=None, **kwargs):
        """Raw head outputs: logits (L, B, Q, K) and box codes (L, B, Q, 10)."""
        return self.pts_bbox_head(self.extract_feat(inputs['imgs']), [ds.metainfo for ds in data_samples])
