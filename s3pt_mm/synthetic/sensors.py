"""The nuScenes sensor rig: six calibrated pinhole cameras and a 32-beam LIDAR_TOP (Velodyne HDL-32E).

Extrinsics are ``ego_from_sensor`` poses close to the real nuScenes calibration (camera frame: x right,
y down, z forward; LiDAR frame: x right, y forward, z up). Intrinsics are the real 1600x900 ones scaled
to the generated image size; pixel ``(u, v)`` is centred on integer coordinates, so a point projected
with ``K @ p / p_z`` (``nuscenes.utils.geometry_utils.view_points``) lands on pixel
``(round(u), round(v))``.

The LiDAR casts one ray per beam and azimuth step at the sample time (no rolling shutter) and keeps
returns within ``max_range``; points are written in the LiDAR frame as float32 ``(x, y, z, intensity,
ring)`` with intensity in [0, 255] and ring 0 the lowest beam.
"""
from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Tuple

import numpy as np

from .geometry import Pose, axis_angle_matrix, yaw_matrix
from .materials import reflectivity
from .raycast import cast_rays
from .world import World

NATIVE_SIZE = (900, 1600)  # (height, width) of the real nuScenes images.
#: Camera frame axes expressed in the ego frame for a camera looking along ego +x.
CAMERA_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
#: channel: (translation in the ego frame [m], yaw of the optical axis [deg], (fx, cx, cy) at 1600x900), in the
#: order of the rig (clockwise from the front camera).
NOMINAL_CAMERAS = {
    'CAM_FRONT': ((1.70, 0.016, 1.51), 0.0, (1266.4, 816.3, 491.5)),
    'CAM_FRONT_RIGHT': ((1.55, -0.49, 1.49), -55.0, (1260.8, 807.9, 495.3)),
    'CAM_BACK_RIGHT': ((1.03, -0.48, 1.56), -110.0, (1259.5, 807.3, 501.2)),
    'CAM_BACK': ((0.03, 0.0, 1.57), 180.0, (809.2, 829.2, 481.8)),
    'CAM_BACK_LEFT': ((1.04, 0.48, 1.56), 110.0, (1256.7, 817.8, 451.9)),
    'CAM_FRONT_LEFT': ((1.52, 0.49, 1.51), 55.0, (1272.6, 826.6, 479.8)),
}
LIDAR_TRANSLATION = (0.943, 0.0, 1.84)
HDL32_ELEVATIONS_DEG = np.linspace(-30.67, 10.67, 32)


def _perturb(rotation: np.ndarray, translation, rng: Optional[np.random.Generator]) -> Pose:
    """Per-log calibration noise: up to 0.3 deg about a random axis and 1 cm of translation."""
    translation = np.asarray(translation, dtype=np.float64)
    if rng is None:
        return Pose(rotation, translation)
    axis = rng.normal(size=3)
    tilt = axis_angle_matrix(axis, np.deg2rad(rng.uniform(0.0, 0.3)))
    return Pose(tilt @ rotation, translation + rng.uniform(-0.01, 0.01, size=3))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``ego_from_sensor`` extrinsics and the 3x3 intrinsic matrix for (height, width)."""

    channel: str
    ego_from_sensor: Pose
    intrinsic: np.ndarray
    height: int
    width: int

    @cached_property
    def pixel_dirs(self) -> np.ndarray:
        """Unit ray directions in the camera frame, (height * width, 3), row-major over (v, u)."""
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        fx, fy, cx, cy = self.intrinsic[0, 0], self.intrinsic[1, 1], self.intrinsic[0, 2], self.intrinsic[1, 2]
        dirs = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1).reshape(-1, 3)
        return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)

    @cached_property
    def half_angle(self) -> float:
        """Largest angle between the optical axis and a pixel ray, radians."""
        return float(np.arccos(self.pixel_dirs[:, 2].min()))


def camera_rig(image_size: Tuple[int, int], rng: Optional[np.random.Generator] = None) -> Tuple[Camera, ...]:
    """The six nuScenes cameras for images of ``image_size = (height, width)`` pixels.

    With ``rng``, every extrinsic gets a small random calibration error (one rig per log).
    """
    height, width = image_size
    sx, sy = width / NATIVE_SIZE[1], height / NATIVE_SIZE[0]
    cameras = []
    for channel, (translation, yaw_deg, (f, cx, cy)) in NOMINAL_CAMERAS.items():
        pose = _perturb(yaw_matrix(np.deg2rad(yaw_deg)) @ CAMERA_BASE, translation, rng)
        intrinsic = np.array([[f * sx, 0.0, cx * sx], [0.0, f * sy, cy * sy], [0.0, 0.0, 1.0]])
        cameras.append(Camera(channel, pose, intrinsic, height, width))
    return tuple(cameras)


@dataclass(frozen=True)
class Lidar:
    """A spinning 32-beam LiDAR (``ego_from_sensor`` pose, azimuth resolution in degrees, range in m)."""

    ego_from_sensor: Pose
    azimuth_step_deg: float
    max_range: float = 70.0

    @cached_property
    def rays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Unit ray directions in the LiDAR frame (N, 3) and their ring index (N,), azimuth-major."""
        azimuth = np.deg2rad(np.arange(0.0, 360.0, self.azimuth_step_deg))
        elevation = np.deg2rad(HDL32_ELEVATIONS_DEG)
        az, el = np.meshgrid(azimuth, elevation, indexing='ij')
        dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).reshape(-1, 3)
        ring = np.broadcast_to(np.arange(len(elevation)), az.shape).reshape(-1)
        return dirs, ring


def lidar_top(azimuth_step_deg: float, rng: Optional[np.random.Generator] = None) -> Lidar:
    """LIDAR_TOP on the roof, x to the right of the car and y forward (yaw -90 deg), as in nuScenes."""
    return Lidar(_perturb(yaw_matrix(-np.pi / 2), LIDAR_TRANSLATION, rng), azimuth_step_deg)


@dataclass
class LidarScan:
    """One sweep: ``points`` float32 (M, 5) = x, y, z [m, LiDAR frame], intensity, ring; ``owner`` (M,)
    is the index of the annotated object each return hit (-1 for scenery and ground)."""

    points: np.ndarray
    owner: np.ndarray


def scan_lidar(world: World, t: float, lidar: Lidar) -> LidarScan:
    """Ray cast the world at time ``t`` from the LiDAR mounted on the ego vehicle."""
    global_from_lidar = world.ego_pose(t) @ lidar.ego_from_sensor
    dirs, ring = lidar.rays
    dirs_global = dirs @ global_from_lidar.rotation.T
    hits = cast_rays(world.render_groups(t), global_from_lidar.translation, dirs_global, lidar.max_range)
    valid = np.isfinite(hits.distance)
    incidence = np.abs(np.sum(hits.normal * dirs_global, axis=1))
    intensity = 255.0 * reflectivity(world, hits) * (0.2 + 0.8 * incidence)
    xyz = dirs[valid] * hits.distance[valid, None]
    points = np.column_stack([xyz, intensity[valid], ring[valid]]).astype(np.float32)
    return LidarScan(points, hits.owner[valid])
