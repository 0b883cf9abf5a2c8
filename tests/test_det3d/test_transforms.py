"""PETR's augmentations keep the camera geometry: a 3D point projects (with the updated lidar2img) onto
the pixels that show it after resize / crop / flip, and boxes onto the same pixels after the global
rotation / scaling; GridMask."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402

from s3pt_mm.det3d import GridMask, MultiViewGlobalRotScale, MultiViewResizeCropFlip  # noqa: E402
from s3pt_mm.det3d.transforms import pad_to_4x4  # noqa: E402

K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 45.0], [0.0, 0.0, 1.0]])
FRONT = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.5], [1.0, 0.0, 0.0, -0.5], [0.0, 0.0, 0.0, 1.0]])
LEFT = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 1.5], [0.0, 1.0, 0.0, -0.5], [0.0, 0.0, 0.0, 1.0]])
POINT = np.array([10.0, 1.0, 0.5, 1.0])  # LiDAR frame; in view of the front camera
POINT_LEFT = np.array([-2.0, 8.0, 1.0, 1.0])  # in view of the left camera


def _project(lidar2img, point):
    image = pad_to_4x4(lidar2img) @ point
    return image[:2] / image[2]


def _sample():
    """Two 90 x 160 views, each with a bright 5 x 5 patch where its point projects."""
    imgs = []
    for lidar2cam, point in ((FRONT, POINT), (LEFT, POINT_LEFT)):
        u, v = _project(pad_to_4x4(K) @ lidar2cam, point)
        img = np.zeros((90, 160, 3), dtype=np.float32)
        img[int(v) - 2:int(v) + 3, int(u) - 2:int(u) + 3] = 255.0
        imgs.append(img)
    return dict(img=imgs, cam2img=[K, K], lidar2cam=[FRONT, LEFT])


def _bright_centroid(img):
    weights = img[..., 0]
    rows, cols = np.mgrid[:img.shape[0], :img.shape[1]]
    return np.array([((cols + 0.5) * weights).sum(), ((rows + 0.5) * weights).sum()]) / weights.sum()


@pytest.mark.parametrize('test_mode', [True, False])
def test_resize_crop_flip_keeps_projection(test_mode):
    np.random.seed(3)
    transform = MultiViewResizeCropFlip(final_size=(48, 120), resize_range=(0.8, 0.9), flip_prob=1.0,
                                        test_mode=test_mode)
    results = transform(_sample())
    assert results['img_shape'] == (48, 120)
    for img, lidar2img, cam2img, lidar2cam, point in zip(results['img'], results['lidar2img'], results['cam2img'],
                                                         results['lidar2cam'], (POINT, POINT_LEFT)):
        assert img.shape == (48, 120, 3) and img.dtype == np.float32
        assert np.allclose(lidar2img, cam2img @ pad_to_4x4(lidar2cam))
        # The patch is 5 px wide before resizing: its centroid is within a pixel of the projection.
        assert np.abs(_bright_centroid(img) - _project(lidar2img, point)).max() < 1.0


def test_resize_crop_test_mode_by_hand():
    results = MultiViewResizeCropFlip(final_size=(48, 120), test_mode=True)(_sample())
    # scale = max(48 / 90, 120 / 160) = 0.75: resized to 67 x 120 (realised y scale 67 / 90), bottom 48
    # rows kept (top = 67 - 48 = 19), centred horizontally (left = 0), no flip.
    sy = 67 / 90
    expected = np.array([[75.0, 0, 60.0, 0], [0, 100 * sy, 45 * sy - 19, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert np.allclose(results['cam2img'][0], expected)


def test_flip_by_hand():
    np.random.seed(0)
    results = MultiViewResizeCropFlip(final_size=(90, 160), resize_range=(1.0, 1.0), flip_prob=1.0)(_sample())
    # No resize or crop; u -> 160 - u: fx -> -fx, cx -> 160 - cx.
    assert np.allclose(results['cam2img'][0][:3, :3], [[-100.0, 0, 80.0], [0, 100.0, 45.0], [0, 0, 1]])
    assert np.allclose(results['img'][0], _sample()['img'][0][:, ::-1])


def test_global_rot_scale_keeps_projection():
    angle, scale = 0.3, 1.05
    boxes = LiDARInstance3DBoxes(
        torch.tensor([[10.0, 1.0, -1.0, 4.0, 2.0, 1.5, 0.2, 3.0, 0.5], [20.0, -3.0, -0.5, 1.0, 1.0, 2.0, -1.0, 0.0, 1.0]]),
        box_dim=9)
    lidar2img = [pad_to_4x4(K) @ FRONT]
    results = dict(gt_bboxes_3d=boxes.clone(), lidar2cam=[FRONT], lidar2img=lidar2img)
    results = MultiViewGlobalRotScale(rot_range=(angle, angle), scale_range=(scale, scale))(results)
    new = results['gt_bboxes_3d']
    for old_center, new_center in zip(boxes.gravity_center.numpy(), new.gravity_center.numpy()):
        before = _project(lidar2img[0], np.append(old_center, 1.0))
        after = _project(results['lidar2img'][0], np.append(new_center, 1.0))
        assert np.allclose(before, after, atol=1e-4)
    assert np.allclose(results['lidar2img'][0], pad_to_4x4(K) @ results['lidar2cam'][0])
    assert torch.allclose(new.yaw, boxes.yaw + angle)
    assert torch.allclose(new.dims, boxes.dims * scale)
    rot = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=torch.float32)
    assert torch.allclose(new.tensor[:, 7:9], scale * boxes.tensor[:, 7:9] @ rot.T, atol=1e-5)


def test_grid_mask():
    imgs = torch.ones(4, 3, 32, 48)
    grid = GridMask(use_h=True, use_w=False, ratio=0.5, mode=1, prob=1.0)
    assert torch.equal(grid.eval()(imgs), imgs)  # identity in eval mode
    grid.train()
    torch.manual_seed(0)
    out = grid(imgs)
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(out, out[:1].expand_as(out))  # one mask for the batch
    rows = out[0, 0, :, 0]
    assert torch.equal(out[0, 0], rows[:, None].expand(32, 48))  # horizontal stripes only
    torch.manual_seed(0)
    inverted = GridMask(use_h=True, use_w=False, ratio=0.5, mode=0, prob=1.0).train()(imgs)
    assert torch.equal(inverted, 1 - out)
    never = GridMask(prob=0.0).train()
    assert torch.equal(never(imgs), imgs)
    torch.manual_seed(1)
    mask = GridMask(ratio=0.5, mode=1).mask(64, 64)
    assert 0.4 < mask.mean() < 0.95  # the stripes of both axes are kept
