"""Rigid transforms and quaternions in the nuScenes conventions.

Frames (all right-handed, metres):

* **global**: the map frame of a log; z up, the ground is the plane z = 0.
* **ego**: the vehicle body frame, origin at the rear axle centre on the ground, x forward, y left, z up.
* **sensor**: a camera frame (x right, y down, z along the optical axis) or the LiDAR frame (x right,
  y forward, z up).
* **road**: the frame a synthetic scene is laid out in (x along the road, y to the left, z up); it is
  mapped to the global frame by one yaw and one translation.

Quaternions are ``[w, x, y, z]`` (scalar first), as in the nuScenes tables and ``pyquaternion``.
A :class:`Pose` ``a_from_b`` maps points given in frame ``b`` into frame ``a``.
"""
from dataclasses import dataclass

import numpy as np


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about +z by ``yaw`` radians (counter-clockwise seen from above), shape (3, 3)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_angle_matrix(axis, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the unit vector ``axis`` (Rodrigues), shape (3, 3)."""
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion ``[w, x, y, z]`` with ``w >= 0`` of a rotation matrix (3, 3)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.empty(4)
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q, dtype=np.float64)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


@dataclass(frozen=True)
class Pose:
    """Rigid transform ``p_a = rotation @ p_b + translation`` (``a_from_b``), metres."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    @staticmethod
    def from_yaw(yaw: float, translation) -> 'Pose':
        return Pose(yaw_matrix(yaw), np.asarray(translation, dtype=np.float64))

    @property
    def quaternion(self) -> np.ndarray:
        """Rotation as ``[w, x, y, z]``."""
        return quaternion_from_matrix(self.rotation)

    def __matmul__(self, other: 'Pose') -> 'Pose':
        """Composition: ``(a_from_b @ b_from_c)`` is ``a_from_c``."""
        return Pose(self.rotation @ other.rotation, self.rotation @ other.translation + self.translation)

    def inverse(self) -> 'Pose':
        rt = self.rotation.T
        return Pose(rt, -rt @ self.translation)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points (..., 3) from frame b to frame a."""
        return points @ self.rotation.T + self.translation
