"""LiDAR -> camera projection with the nuScenes calibration chain, and sparse depth maps.

Frames (nuScenes conventions): a ``calibrated_sensor`` record maps sensor -> ego, an ``ego_pose`` record
maps ego -> global, each as a translation (metres) and a rotation quaternion ``[w, x, y, z]``. A LiDAR
point reaches a camera through lidar -> ego(t_lidar) -> global -> ego(t_camera) -> camera, exactly the
chain of the devkit's ``NuScenesExplorer.map_pointcloud_to_image``; the camera frame is x right, y down,
z forward (depth).
"""
from typing import NamedTuple

import numpy as np

__all__ = [
    'quaternion_to_matrix', 'transform_matrix', 'lidar_to_camera', 'project_to_image',
    'SparseDepth', 'sparse_depth_map'
]


def quaternion_to_matrix(rotation_wxyz):
    """(3, 3) rotation matrix of a quaternion ``[w, x, y, z]`` (normalised first)."""
    q = np.asarray(rotation_wxyz, dtype=np.float64)
    if q.shape != (4, ) or not np.isfinite(q).all() or not np.linalg.norm(q) > 0:
        raise ValueError(f'rotation must be a finite non-zero quaternion [w, x, y, z], got {rotation_wxyz}')
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def transform_matrix(translation, rotation_wxyz, inverse=False):
    """(4, 4) homogeneous transform ``[R | t]`` of a nuScenes record, or its inverse ``[R^T | -R^T t]``."""
    rotation = quaternion_to_matrix(rotation_wxyz)
    translation = np.asarray(translation, dtype=np.float64)
    if translation.shape != (3, ) or not np.isfinite(translation).all():
        raise ValueError(f'translation must be 3 finite numbers, got {translation}')
    matrix = np.eye(4)
    if inverse:
        matrix[:3, :3] = rotation.T
        matrix[:3, 3] = -rotation.T @ translation
    else:
        matrix[:3, :3] = rotation
        matrix[:3, 3] = translation
    return matrix


def lidar_to_camera(lidar_calib, lidar_pose, cam_pose, cam_calib):
    """(4, 4) transform from the LiDAR frame to the camera frame.

    Args:
        lidar_calib, cam_calib (dict): ``calibrated_sensor`` records (sensor -> ego).
        lidar_pose, cam_pose (dict): ``ego_pose`` records (ego -> global) at the LiDAR and camera
            timestamps.
    """
    def record(r, inverse=False):
        return transform_matrix(r['translation'], r['rotation'], inverse=inverse)

    return (record(cam_calib, inverse=True) @ record(cam_pose, inverse=True) @ record(lidar_pose) @
            record(lidar_calib))


def project_to_image(points_cam, intrinsic, image_hw, min_depth=1.0):
    """Pinhole projection of camera-frame points, keeping those in front of the camera and in the image.

    Args:
        points_cam (np.ndarray): (N, 3) points in the camera frame (metres).
        intrinsic (np.ndarray): (3, 3) camera matrix.
        image_hw (tuple[int, int]): image height and width (pixels).
        min_depth (float): points closer than this (metres, along z) are dropped, like the devkit's
            ``min_dist`` (points behind the camera always are).

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: pixel coordinates ``uv`` (M, 2) float (x right,
        y down, pixel centres at integer + 0.5 for the pixel grid used by :func:`sparse_depth_map`),
        depths (M,) and the indices (M,) of the kept points in ``points_cam``.
    """
    points_cam = np.asarray(points_cam, dtype=np.float64)
    intrinsic = np.asarray(intrinsic, dtype=np.float64)
    height, width = image_hw
    depth = points_cam[:, 2]
    in_front = depth > max(min_depth, 1e-6)
    pts = points_cam[in_front]
    uvw = pts @ intrinsic.T
    uv = uvw[:, :2] / uvw[:, 2:3]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    index = np.flatnonzero(in_front)[inside]
    return uv[inside], depth[index], index


class SparseDepth(NamedTuple):
    """Result of :func:`sparse_depth_map`."""
    depth: np.ndarray  #: (H, W) float32 metres along the optical axis, 0 where no point lands
    num_projected: int  #: points that landed in the image (before the z-buffer)
    num_nonfinite: int  #: points dropped for NaN/inf coordinates


def sparse_depth_map(points_lidar, lidar_to_cam, intrinsic, image_hw, min_depth=1.0, max_depth=None):
    """Rasterise a LiDAR sweep into a camera's sparse depth map; the nearest point wins each pixel.

    Args:
        points_lidar (np.ndarray): (N, 3+) points in the LiDAR frame (extra columns ignored).
        lidar_to_cam (np.ndarray): (4, 4) from :func:`lidar_to_camera`.
        intrinsic (np.ndarray): (3, 3) camera matrix.
        image_hw (tuple[int, int]): output size (H, W).
        min_depth (float): nearer points are dropped (metres).
        max_depth (float | None): farther points are dropped (metres).

    Returns:
        SparseDepth: the (H, W) float32 map and counts. An empty sweep gives an all-zero map.
    """
    points = np.asarray(points_lidar, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must be (N, 3+) x, y, z[, ...], got shape {points.shape}')
    finite = np.isfinite(points[:, :3]).all(axis=1)
    height, width = image_hw
    depth_map = np.zeros((height, width), np.float32)
    xyz = points[finite, :3]
    points_cam = xyz @ lidar_to_cam[:3, :3].T + lidar_to_cam[:3, 3]
    uv, depth, _ = project_to_image(points_cam, intrinsic, image_hw, min_depth=min_depth)
    if max_depth is not None:
        keep = depth <= max_depth
        uv, depth = uv[keep], depth[keep]
    pixel = uv[:, 1].astype(np.int64) * width + uv[:, 0].astype(np.int64)
    flat = np.full(height * width, np.inf)
    np.minimum.at(flat, pixel, depth)
    hit = np.isfinite(flat)
    depth_map.reshape(-1)[hit] = flat[hit]
    return SparseDepth(depth_map, int(depth.shape[0]), int((~finite).sum()))
