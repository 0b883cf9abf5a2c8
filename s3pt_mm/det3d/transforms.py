"""PETR's data augmentations of multi-view samples, keeping the camera geometry consistent.

They run after mmdet3d's ``LoadMultiViewImageFromFiles`` (``img``: list of N (H, W, 3) BGR arrays,
``cam2img``: N intrinsics, ``lidar2cam``: N (4, 4) LiDAR -> camera transforms) and maintain
``lidar2img`` = ``cam2img`` (4, 4) @ ``lidar2cam``: a homogeneous LiDAR point (x forward, y left, z up;
metres) maps to ``(u d, v d, d, 1)``, ``(u, v)`` continuous pixel coordinates of the transformed image
(origin at its corner, pixel ``j`` spans ``[j, j + 1)``), ``d`` the depth (metres). Normalisation and
padding of the images happen in the model's ``Det3DDataPreprocessor`` (mean / std, BGR -> RGB, padding
to a size divisor).
"""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

__all__ = ['MultiViewResizeCropFlip', 'MultiViewGlobalRotScale', 'pad_to_4x4']


def pad_to_4x4(matrix):
    """A (3, 3), (3, 4) or (4, 4) matrix as (4, 4) float64, completed with the identity."""
    matrix = np.asarray(matrix, dtype=np.float64)
    padded = np.eye(4)
    padded[:matrix.shape[0], :matrix.shape[1]] = matrix
    return padded


@TRANSFORMS.register_module()
class MultiViewResizeCropFlip(BaseTransform):
    """Resize, crop and horizontally flip all views of a sample (one draw per sample), as PETR.

    Each view of size (H, W) is resized by ``s`` to (int(H s), int(W s)); a window of ``final_size`` is
    cropped at ``top = int((1 - b) H s) - H_out`` (``b`` of the resized height stays below the window;
    ``b = 0`` keeps the bottom of the image, the sky is cut) and ``left`` in ``[0, max(0, W s - W_out)]``
    (zeros where the window leaves the image); then a flip with probability ``flip_prob``. The
    intrinsics follow: ``u' = s_x u - left``, ``v' = s_y v - top`` (``s_x``, ``s_y`` the realised scales),
    after a flip ``u'' = W_out - u'``.

    Training draws ``s`` uniformly from ``resize_range``, ``b`` from ``bottom_range`` and ``left``
    uniformly. Testing (``test_mode=True``) uses ``s = max(H_out / H, W_out / W)``, the mean of
    ``bottom_range``, a centred ``left`` and no flip.

    Args:
        final_size (tuple[int, int]): output (height, width) of every view.
        resize_range (tuple[float, float]): scale range of training, relative to the loaded image.
        bottom_range (tuple[float, float]): range of ``b``.
        flip_prob (float): probability of a horizontal flip in training.
        test_mode (bool): deterministic test-time version.

    Updates ``img`` (float32), ``cam2img`` ((4, 4) each), ``lidar2img`` and ``img_shape`` (the output size).
    """

    def __init__(self, final_size, resize_range=(0.47, 0.625), bottom_range=(0.0, 0.0), flip_prob=0.5,
                 test_mode=False):
        self.final_size = tuple(final_size)
        self.resize_range = resize_range
        self.bottom_range = bottom_range
        self.flip_prob = flip_prob
        self.test_mode = test_mode

    def transform(self, results):
        out_h, out_w = self.final_size
        if self.test_mode:
            scale, bottom, left_frac, flip = None, float(np.mean(self.bottom_range)), 0.5, False
        else:
            scale = np.random.uniform(*self.resize_range)
            bottom = np.random.uniform(*self.bottom_range)
            left_frac = np.random.uniform()
            flip = np.random.uniform() < self.flip_prob
        imgs, cam2imgs = [], []
        for img, cam2img in zip(results['img'], results['cam2img']):
            height, width = img.shape[:2]
            view_scale = max(out_h / height, out_w / width) if scale is None else scale
            new_h, new_w = int(height * view_scale), int(width * view_scale)
            top = int((1 - bottom) * new_h) - out_h
            left = int(left_frac * max(0, new_w - out_w))
            resized = cv2.resize(img.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            out = _crop_with_zeros(resized, top, left, out_h, out_w)
            aug = np.array([[new_w / width, 0, -left], [0, new_h / height, -top], [0, 0, 1]])
            if flip:
                out = np.ascontiguousarray(out[:, ::-1])
                aug = np.array([[-1, 0, out_w], [0, 1, 0], [0, 0, 1]]) @ aug
            imgs.append(out)
            cam2imgs.append(pad_to_4x4(aug) @ pad_to_4x4(cam2img))
        results['img'] = imgs
        results['cam2img'] = cam2imgs
        results['lidar2img'] = [c2i @ pad_to_4x4(l2c) for c2i, l2c in zip(cam2imgs, results['lidar2cam'])]
        results['img_shape'] = (out_h, out_w)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(final_size={self.final_size}, resize_range={self.resize_range}, '
                f'bottom_range={self.bottom_range}, flip_prob={self.flip_prob}, test_mode={self.test_mode})')


def _crop_with_zeros(img, top, left, height, width):
    """The (height, width) window of ``img`` at (top, left), zeros where it leaves the image."""
    out = np.zeros((height, width) + img.shape[2:], dtype=img.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + height, img.shape[0]), min(left + width, img.shape[1])
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top:src_bottom - top, src_left - left:src_right - left] = \
            img[src_top:src_bottom, src_left:src_right]
    return out


@TRANSFORMS.register_module()
class MultiViewGlobalRotScale(BaseTransform):
    """Rotate the scene about the LiDAR z axis and scale it, moving the cameras along (training).

    A LiDAR point ``p`` becomes ``p' = s R_z(a) p`` (``a`` uniform in ``rot_range``, radians, counter-
    clockwise seen from above; ``s`` uniform in ``scale_range``): the ground-truth boxes are rotated
    (centre, yaw, velocity) and scaled (centre, size, velocity), and ``lidar2cam`` / ``lidar2img`` are
    right-multiplied by the inverse transform, so every box projects to the same pixels as before.

    Args:
        rot_range (tuple[float, float]): rotation range (radians); PETR: +-0.3925 (22.5 degrees).
        scale_range (tuple[float, float]): scale range; PETR: (0.95, 1.05).
    """

    def __init__(self, rot_range=(-0.3925, 0.3925), scale_range=(0.95, 1.05)):
        self.rot_range = rot_range
        self.scale_range = scale_range

    def transform(self, results):
        angle = np.random.uniform(*self.rot_range)
        scale = np.random.uniform(*self.scale_range)
        results['gt_bboxes_3d'].rotate(angle)
        results['gt_bboxes_3d'].scale(scale)
        cos, sin = np.cos(angle), np.sin(angle)
        lidar_aug = np.eye(4)
        lidar_aug[:3, :3] = scale * np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
        inverse = np.linalg.inv(lidar_aug)
        for key in ('lidar2cam', 'lidar2img'):
            if key in results:
                results[key] = [pad_to_4x4(m) @ inverse for m in results[key]]
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(rot_range={self.rot_range}, scale_range={self.scale_range})'
