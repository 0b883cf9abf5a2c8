"""PETR's position embeddings: the 3D position embedding of image features and the sine embeddings.

3D position embedding (PETR, Liu et al. ECCV 2022, §3.2-3.3): every cell of a camera's feature map is
the ray of ``D`` points at the depths of a depth grid; the points are lifted into the LiDAR frame with
the inverse of ``lidar2img``, normalised to the position range, and a 1x1-conv MLP embeds the ``3 D``
coordinates of the cell. Frames: ``lidar2img`` (4, 4) maps homogeneous LiDAR points (x forward, y left,
z up; metres) to ``(u d, v d, d, 1)`` with ``(u, v)`` the continuous pixel coordinates of the network
input (origin at the image corner, pixel ``j`` spans ``[j, j + 1)``) and ``d`` the camera depth (metres).
"""
import math

import numpy as np
import torch
from mmdet.models.layers.transformer import inverse_sigmoid
from torch import nn

from mmdet3d.registry import MODELS

__all__ = [
    'lid_depth_bins', 'uniform_depth_bins', 'frustum_points', 'lidar2img_tensor', 'image_to_lidar',
    'normalize_to_range', 'sine_embed_3d', 'multiview_sine_embed', 'PositionEmbedding3D'
]


def lid_depth_bins(depth_start, depth_max, num_bins):
    """Linear-increasing discretisation (LID) of ``[depth_start, depth_max]``: bins grow linearly with depth.

    ``d_i = depth_start + (depth_max - depth_start) * i (i + 1) / (D (D + 1))`` for ``i = 0 .. D-1``, so the
    gap between bins ``i`` and ``i + 1`` is ``2 (i + 1) (depth_max - depth_start) / (D (D + 1))``.

    Returns:
        Tensor: (D,) depths in metres.
    """
    i = torch.arange(num_bins, dtype=torch.float32)
    return depth_start + (depth_max - depth_start) * i * (i + 1) / (num_bins * (num_bins + 1))


def uniform_depth_bins(depth_start, depth_max, num_bins):
    """Uniform discretisation: ``d_i = depth_start + (depth_max - depth_start) * i / D``; (D,) metres."""
    return depth_start + (depth_max - depth_start) * torch.arange(num_bins, dtype=torch.float32) / num_bins


def frustum_points(feat_hw, pad_hw, depths):
    """Homogeneous camera-frustum points of a feature map, in the ``lidar2img`` image frame.

    A feature cell ``(i, j)`` stands for the input pixel at its top-left corner,
    ``u = j W / w``, ``v = i H / h``, as mmdetection3d's PETR (``projects/PETR``) places its frustum.

    Args:
        feat_hw (tuple[int, int]): feature map size ``(h, w)``.
        pad_hw (tuple[int, int]): padded network input size ``(H, W)`` the feature map covers.
        depths (Tensor): (D,) depths (metres).

    Returns:
        Tensor: (h, w, D, 4) points ``(u d, v d, d, 1)``.
    """
    (h, w), (pad_h, pad_w) = feat_hw, pad_hw
    v = torch.arange(h, dtype=depths.dtype, device=depths.device) * pad_h / h
    u = torch.arange(w, dtype=depths.dtype, device=depths.device) * pad_w / w
    v, u, d = torch.meshgrid(v, u, depths, indexing='ij')
    return torch.stack([u * d, v * d, d, torch.ones_like(d)], dim=-1)


def lidar2img_tensor(batch_img_metas, device=None):
    """(B, N, 4, 4) float64 ``lidar2img`` of a batch from the metainfo of its samples.

    Each meta holds ``lidar2img`` (N, 4, 4) (the pipelines of :mod:`.transforms` keep it), or else
    ``cam2img`` (N, 3, 3 or 4, 4) and ``lidar2cam`` (N, 4, 4), composed here as ``cam2img @ lidar2cam``.
    """
    matrices = []
    for meta in batch_img_metas:
        if 'lidar2img' in meta:
            matrices.append(torch.as_tensor(np.asarray(meta['lidar2img'], dtype=np.float64)))
            continue
        cam2img = torch.as_tensor(np.asarray(meta['cam2img'], dtype=np.float64))
        viewpad = torch.eye(4, dtype=torch.float64).repeat(len(cam2img), 1, 1)
        viewpad[:, :cam2img.shape[1], :cam2img.shape[2]] = cam2img
        matrices.append(viewpad @ torch.as_tensor(np.asarray(meta['lidar2cam'], dtype=np.float64)))
    return torch.stack(matrices).to(device)


def image_to_lidar(points, lidar2img):
    """Lift frustum points into the LiDAR frame.

    Args:
        points (Tensor): (h, w, D, 4) homogeneous image-frame points (:func:`frustum_points`).
        lidar2img (Tensor): (B, N, 4, 4) float64 (inverted in float64, then cast to ``points.dtype``).

    Returns:
        Tensor: (B, N, h, w, D, 3) LiDAR-frame points (metres).
    """
    img2lidar = torch.linalg.inv(lidar2img).to(points.dtype)
    lidar = torch.einsum('bnij,hwdj->bnhwdi', img2lidar, points)
    return lidar[..., :3]


def normalize_to_range(points, position_range):
    """Map metric points into the unit cube of ``position_range = [x0, y0, z0, x1, y1, z1]`` (metres).

    Points inside the range land in ``[0, 1]^3``; those outside are not clipped.
    """
    low = points.new_tensor(position_range[:3])
    high = points.new_tensor(position_range[3:])
    return (points - low) / (high - low)


def sine_embed_3d(points, num_feats, temperature=10000):
    """DETR-style sine embedding of normalised 3D points (the reference points of PETR's queries).

    Args:
        points (Tensor): (..., 3) coordinates in ``[0, 1]``.
        num_feats (int): channels per coordinate (even).

    Returns:
        Tensor: (..., 3 num_feats) ``[emb(y), emb(x), emb(z)]``, each alternating sin / cos of
        ``2 pi p / temperature^(2 floor(k / 2) / num_feats)``.
    """
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=points.device)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') / num_feats)
    scaled = points[..., None] * (2 * math.pi) / dim_t  # (..., 3, num_feats)
    emb = torch.stack((scaled[..., 0::2].sin(), scaled[..., 1::2].cos()), dim=-1).flatten(-2)
    return torch.cat((emb[..., 1, :], emb[..., 0, :], emb[..., 2, :]), dim=-1)


def multiview_sine_embed(masks, num_feats, temperature=10000, eps=1e-6):
    """Sine embedding of (camera, row, column) positions of multi-view feature maps (PETR's 2D term).

    Args:
        masks (Tensor): (B, N, h, w) bool, True on padding.
        num_feats (int): channels per axis (even).

    Returns:
        Tensor: (B, N, 3 num_feats, h, w): ``[emb(camera), emb(row), emb(column)]``, each axis
        normalised to ``(0, 2 pi]`` over the valid cells (cumulative counts, as DETR).
    """
    valid = (~masks).float()
    axes = []
    for dim in (1, 2, 3):
        cum = valid.cumsum(dim)
        last = cum.narrow(dim, cum.shape[dim] - 1, 1)
        axes.append(cum / (last + eps) * (2 * math.pi))
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=masks.device)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') / num_feats)
    embs = []
    for pos in axes:
        scaled = pos[..., None] / dim_t
        embs.append(torch.stack((scaled[..., 0::2].sin(), scaled[..., 1::2].cos()), dim=-1).flatten(-2))
    return torch.cat(embs, dim=-1).permute(0, 1, 4, 2, 3)


@MODELS.register_module()
class PositionEmbedding3D(nn.Module):
    """PETR's 3D position embedding of multi-view feature maps.

    Args:
        embed_dims (int): output channels.
        depth_num (int): depth bins per ray (64 in PETR).
        depth_start (float): nearest depth (metres).
        position_range (list[float]): ``[x0, y0, z0, x1, y1, z1]`` LiDAR-frame range (metres) the
            points are normalised to; the farthest depth is ``x1``.
        lid (bool): LID depth bins (else uniform).
    """

    def __init__(self, embed_dims, depth_num=64, depth_start=1.0,
                 position_range=(-61.2, -61.2, -10.0, 61.2, 61.2, 10.0), lid=True):
        super().__init__()
        self.position_range = list(position_range)
        bins = lid_depth_bins if lid else uniform_depth_bins
        self.register_buffer('depths', bins(depth_start, self.position_range[3], depth_num), persistent=False)
        self.encoder = nn.Sequential(
            nn.Conv2d(3 * depth_num, 4 * embed_dims, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * embed_dims, embed_dims, kernel_size=1))

    def coordinates(self, feat_hw, pad_hw, lidar2img):
        """Normalised LiDAR coordinates of the frustum points: (B, N, h, w, D, 3), inside range in [0, 1]."""
        points = frustum_points(feat_hw, pad_hw, self.depths)
        return normalize_to_range(image_to_lidar(points, lidar2img), self.position_range)

    def forward(self, feat_hw, pad_hw, lidar2img):
        """(B, N, embed_dims, h, w) embedding for feature maps of size ``feat_hw`` of inputs ``pad_hw``.

        Args:
            lidar2img (Tensor): (B, N, 4, 4) float64 (:func:`lidar2img_tensor`).
        """
        coords = self.coordinates(feat_hw, pad_hw, lidar2img)
        batch, views, h, w = coords.shape[:4]
        coords = inverse_sigmoid(coords.flatten(-2).permute(0, 1, 4, 2, 3).reshape(batch * views, -1, h, w))
        return self.encoder(coords).view(batch, views, -1, h, w)
