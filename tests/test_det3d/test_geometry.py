"""PETR's 3D position embedding against hand-computed values: LID depth bins, frustum points, the
inversion of lidar2img, normalisation to the position range, and the sine embeddings."""
import math

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')
from s3pt_mm.det3d.positional_encoding import (PositionEmbedding3D, frustum_points, image_to_lidar,  # noqa: E402
                                               lid_depth_bins, lidar2img_tensor, multiview_sine_embed,
                                               normalize_to_range, sine_embed_3d, uniform_depth_bins)

POSITION_RANGE = [-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]
# A camera looking along LiDAR +x, 1.5 m above and 0.5 m ahead of the LiDAR: camera x = -LiDAR y,
# camera y = -LiDAR z, camera z (depth) = LiDAR x.
K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 20.0], [0.0, 0.0, 1.0]])
LIDAR2CAM = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.5], [1.0, 0.0, 0.0, -0.5], [0.0, 0.0, 0.0, 1.0]])


def _lidar2img():
    viewpad = np.eye(4)
    viewpad[:3, :3] = K
    return viewpad @ LIDAR2CAM


def test_lid_depth_bins_by_hand():
    # d_i = 1 + 60.2 i (i + 1) / (4 * 5): 1, 1 + 60.2 * 2/20, 1 + 60.2 * 6/20, 1 + 60.2 * 12/20
    assert torch.allclose(lid_depth_bins(1.0, 61.2, 4), torch.tensor([1.0, 7.02, 19.06, 37.12]))
    gaps = torch.diff(lid_depth_bins(1.0, 61.2, 4))
    assert torch.allclose(gaps, torch.tensor([6.02, 12.04, 18.06]))  # linearly increasing
    bins = lid_depth_bins(1.0, 61.2, 64)  # PETR: 64 bins from 1 m to position_range x1 = 61.2 m
    assert bins[0] == 1.0 and math.isclose(bins[-1].item(), 1.0 + 60.2 * 63 / 65, rel_tol=1e-6)
    assert torch.allclose(uniform_depth_bins(1.0, 61.2, 4), torch.tensor([1.0, 16.05, 31.1, 46.15]))


def test_frustum_points_by_hand():
    points = frustum_points((2, 3), (32, 48), torch.tensor([2.0, 4.0]))
    assert points.shape == (2, 3, 2, 4)
    # mmdetection3d's PETR places cell (i, j) of a stride-16 map at the pixel of its top-left corner,
    # u = j * 48 / 3 = 16 j, v = i * 32 / 2 = 16 i (projects/PETR: arange(W) * pad_w / W, not + 0.5).
    assert torch.equal(points[1, 2, 1], torch.tensor([32.0 * 4, 16.0 * 4, 4.0, 1.0]))
    assert torch.equal(points[0, 0, 0], torch.tensor([0.0, 0.0, 2.0, 1.0]))
    assert torch.equal(points[0, 1, 0], torch.tensor([16.0 * 2, 0.0, 2.0, 1.0]))


def test_lidar2img_inversion_by_hand():
    lidar2img = torch.from_numpy(_lidar2img())[None, None]  # (B=1, N=1, 4, 4)
    depths = torch.tensor([2.0, 10.0])
    lidar = image_to_lidar(frustum_points((2, 2), (40, 100), depths), lidar2img)
    assert lidar.shape == (1, 1, 2, 2, 2, 3)
    # Cell (1, 1): corner u = 1 * 50 = 50, v = 1 * 20 = 20, the principal point. At depth d: camera point
    # (0, 0, d); LiDAR x = d + 0.5, y = 0, z = 1.5. Cell (0, 1): u = 50, v = 0: camera point
    # (0, -20 d / 100, d); LiDAR z = 1.5 + 20 d / 100.
    for k, d in enumerate(depths.tolist()):
        assert torch.allclose(lidar[0, 0, 1, 1, k], torch.tensor([d + 0.5, 0.0, 1.5]), atol=1e-5)
        assert torch.allclose(lidar[0, 0, 0, 1, k], torch.tensor([d + 0.5, 0.0, 1.5 + 20 * d / 100]), atol=1e-5)
    # And the lifted points project back to their pixels and depths.
    homog = torch.cat([lidar, torch.ones_like(lidar[..., :1])], -1).double()
    image = torch.einsum('ij,hwdj->hwdi', lidar2img[0, 0], homog[0, 0])
    assert torch.allclose(image[..., 2], depths.double().expand(2, 2, 2), atol=1e-5)
    assert torch.allclose(image[0, 1, :, 0] / image[0, 1, :, 2], torch.full((2, ), 50.0, dtype=torch.float64))


def test_lidar2img_from_meta():
    composed = lidar2img_tensor([dict(cam2img=[K, K], lidar2cam=[LIDAR2CAM, LIDAR2CAM])])
    given = lidar2img_tensor([dict(lidar2img=[_lidar2img(), _lidar2img()])])
    assert composed.shape == (1, 2, 4, 4) and composed.dtype == torch.float64
    assert torch.allclose(composed, given)


def test_normalize_to_position_range_by_hand():
    points = torch.tensor([[0.0, 0.0, 0.0], [61.2, -61.2, 10.0], [30.6, 0.0, -5.0], [122.4, 0.0, 0.0]])
    expected = torch.tensor([[0.5, 0.5, 0.5], [1.0, 0.0, 1.0], [0.75, 0.5, 0.25], [1.5, 0.5, 0.5]])
    assert torch.allclose(normalize_to_range(points, POSITION_RANGE), expected)


def test_position_embedding_module():
    module = PositionEmbedding3D(embed_dims=8, depth_num=4, depth_start=1.0, position_range=POSITION_RANGE)
    assert torch.allclose(module.depths, lid_depth_bins(1.0, 61.2, 4))
    lidar2img = torch.from_numpy(_lidar2img()).expand(2, 3, 4, 4)
    coords = module.coordinates((2, 5), (32, 80), lidar2img)
    expected = normalize_to_range(image_to_lidar(frustum_points((2, 5), (32, 80), module.depths), lidar2img),
                                  POSITION_RANGE)
    assert coords.shape == (2, 3, 2, 5, 4, 3) and torch.allclose(coords, expected)
    assert module((2, 5), (32, 80), lidar2img).shape == (2, 3, 8, 2, 5)


def test_sine_embed_3d_by_hand():
    emb = sine_embed_3d(torch.tensor([[0.25, 0.5, 0.0]]), num_feats=4)
    assert emb.shape == (1, 12)
    # Frequencies 1, 1, 1/100, 1/100 (temperature 10000, 4 features); order [y, x, z].
    y = [math.sin(math.pi), math.cos(math.pi), math.sin(math.pi / 100), math.cos(math.pi / 100)]
    x = [math.sin(math.pi / 2), math.cos(math.pi / 2), math.sin(math.pi / 200), math.cos(math.pi / 200)]
    z = [0.0, 1.0, 0.0, 1.0]
    assert torch.allclose(emb[0], torch.tensor(y + x + z), atol=1e-6)


def test_multiview_sine_embed_by_hand():
    masks = torch.zeros(1, 2, 1, 2, dtype=torch.bool)
    masks[0, 1, 0, 1] = True  # the second camera's second column is padding
    emb = multiview_sine_embed(masks, num_feats=2)
    assert emb.shape == (1, 2, 6, 1, 2)
    # Camera axis of the first column: cumulative count / total * 2 pi = pi (camera 0), 2 pi (camera 1).
    assert torch.allclose(emb[0, :, 0, 0, 0], torch.tensor([math.sin(math.pi), math.sin(2 * math.pi)]),
                          atol=1e-5)
    # Column axis: camera 0 has 2 valid columns (pi, 2 pi); camera 1 one (2 pi, then 2 pi again).
    assert torch.allclose(emb[0, 0, 5, 0], torch.tensor([math.cos(math.pi), math.cos(2 * math.pi)]), atol=1e-5)
    assert torch.allclose(emb[0, 1, 4, 0, 0], torch.tensor(math.sin(2 * math.pi)), atol=1e-5)
