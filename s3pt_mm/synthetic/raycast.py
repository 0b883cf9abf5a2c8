"""Vectorised ray casting of a :class:`~.world.World` snapshot: parts (boxes, cylinders) and the ground.

All rays of one call share an origin (a camera centre or the LiDAR centre). Work is vectorised over
rays; the Python loops run over render groups (objects, buildings, trees) and their few parts only:
a group is first culled by its bounding sphere against the ray bundle's cone, then by a slab test of
its bounding box, and only the surviving rays are tested against its parts and depth-tested
(z-buffer on the ray distance). :func:`in_shadow` casts rays from many surface points towards the sun.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .object_models import BOX, Part
from .world import RenderGroup

GROUND, SKY = -1, -2
_EPS = 1e-6


@dataclass
class Hits:
    """First intersection of every ray (N rays, P parts in the flattened part list).

    ``distance`` is the ray length to the hit in metres (``inf`` for sky); ``part`` indexes ``parts`` /
    ``owners``, or is :data:`GROUND` / :data:`SKY`; ``normal`` is the global unit surface normal;
    ``local`` is the hit point in the part's own frame (box centre origin, part axes) for parts and in
    the global frame for the ground. ``coverage[owner]`` lists the rays hitting any part of an annotated
    object regardless of occlusion (amodal extent).
    """

    distance: np.ndarray  # (N,) float64
    part: np.ndarray  # (N,) int64
    normal: np.ndarray  # (N, 3)
    local: np.ndarray  # (N, 3)
    parts: List[Part]
    owners: np.ndarray  # (P,) object index of each part, -1 for scenery.
    coverage: Dict[int, np.ndarray]

    @property
    def owner(self) -> np.ndarray:
        """(N,) object index hit by each ray, -1 for scenery, ground and sky."""
        table = np.append(self.owners, [-1, -1])  # Indices -2 (sky) and -1 (ground) wrap to the end.
        return table[self.part]


def _slab(origin: np.ndarray, dirs: np.ndarray, half: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Entry distance (``inf`` on a miss) and entry-face normal (box frame) of rays vs box ``+-half``.

    ``origin`` is one point (3,) or one per ray (N, 3)."""
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = 1.0 / dirs
        t1 = (-half - origin) * inv
        t2 = (half - origin) * inv
    near, far = np.fmin(t1, t2), np.fmax(t1, t2)
    axis = np.argmax(near, axis=1)
    rows = np.arange(len(dirs))
    t_near, t_far = near[rows, axis], far.min(axis=1)
    hit = (t_near <= t_far) & (t_near > _EPS)
    normal = np.zeros_like(dirs)
    normal[rows, axis] = -np.sign(dirs[rows, axis])
    return np.where(hit, t_near, np.inf), normal


def _cylinder(origin: np.ndarray, dirs: np.ndarray, radius: float, half_height: float):
    """Entry distance and normal of rays vs the vertical cylinder ``x^2 + y^2 <= r^2, |z| <= hh``;
    ``origin`` is one point (3,) or one per ray (N, 3)."""
    ox, oy, oz = np.broadcast_to(origin, dirs.shape).T
    dx, dy, dz = dirs.T
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - a * c
    with np.errstate(divide='ignore', invalid='ignore'):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        side_ok = (disc >= 0) & (a > 0) & (t_side > _EPS) & (np.abs(oz + t_side * dz) <= half_height)
        t_side = np.where(side_ok, t_side, np.inf)
        caps = []
        for z_cap in (half_height, -half_height):
            t_cap = (z_cap - oz) / dz
            x, y = ox + t_cap * dx, oy + t_cap * dy
            caps.append(np.where((t_cap > _EPS) & (x * x + y * y <= radius * radius), t_cap, np.inf))
    t = np.minimum(t_side, np.minimum(*caps))
    normal = np.zeros_like(dirs)
    side = (t == t_side) & np.isfinite(t)
    normal[side, 0] = (ox[side] + t[side] * dx[side]) / radius
    normal[side, 1] = (oy[side] + t[side] * dy[side]) / radius
    normal[~side, 2] = np.where(t[~side] == caps[0][~side], 1.0, -1.0)
    return t, normal


def _hit_part(part: Part, o_group: np.ndarray, d_group: np.ndarray):
    """Entry distance, normal (part axes) and ray origin(s) in the part frame of rays given in the group frame."""
    o_part = o_group - np.asarray(part.centre)
    half = np.asarray(part.half)
    if part.kind == BOX:
        return (*_slab(o_part, d_group, half), o_part)
    return (*_cylinder(o_part, d_group, half[0], half[2]), o_part)


def cast_rays(groups: Sequence[RenderGroup], origin: np.ndarray, dirs: np.ndarray,
              max_distance: float = np.inf, cone: Optional[Tuple[np.ndarray, float]] = None) -> Hits:
    """Cast unit rays ``origin + t * dirs`` (global frame, (N, 3)) against ``groups`` and the ground z = 0.

    ``cone = (axis, half_angle)`` bounds all ray directions (e.g. a camera frustum) and lets whole
    groups be skipped; hits beyond ``max_distance`` metres count as sky.
    """
    n = len(dirs)
    best = np.full(n, float(max_distance))
    part_index = np.full(n, SKY, dtype=np.int64)
    normal = np.zeros((n, 3))
    local = np.zeros((n, 3))
    parts: List[Part] = []
    owners: List[int] = []
    coverage: Dict[int, List[np.ndarray]] = {}
    for group in groups:
        to_centre = group.global_from_group.translation - origin
        dist = float(np.linalg.norm(to_centre))
        radius = float(np.linalg.norm(group.half))
        if dist - radius > max_distance:
            continue
        if dist > radius:
            angular_radius = np.arcsin(radius / dist)
            if cone is not None and np.arccos(np.clip(cone[0] @ to_centre / dist, -1, 1)) > cone[1] + angular_radius:
                continue
            rays = np.flatnonzero(dirs @ (to_centre / dist) >= np.cos(angular_radius))
        else:
            rays = np.arange(n)
        if rays.size == 0:
            continue
        rotation = group.global_from_group.rotation
        o_group = rotation.T @ (origin - group.global_from_group.translation)
        d_group = dirs[rays] @ rotation
        t_box, _ = _slab(o_group, d_group, group.half)
        keep = np.isfinite(t_box) if group.owner >= 0 else t_box < best[rays]
        rays, d_group = rays[keep], d_group[keep]
        if rays.size == 0:
            continue
        covered = []
        for part in group.parts:
            t, n_part, o_part = _hit_part(part, o_group, d_group)
            hit = np.isfinite(t)
            if group.owner >= 0:
                covered.append(rays[hit])
            closer = hit & (t < best[rays])
            index = rays[closer]
            best[index] = t[closer]
            part_index[index] = len(parts)
            normal[index] = n_part[closer] @ rotation.T
            local[index] = o_part + t[closer, None] * d_group[closer]
            parts.append(part)
            owners.append(group.owner)
        if group.owner >= 0:
            coverage[group.owner] = np.unique(np.concatenate(covered))
    with np.errstate(divide='ignore'):
        t_ground = np.where(dirs[:, 2] < 0, -origin[2] / dirs[:, 2], np.inf)
    ground = t_ground < best
    best[ground] = t_ground[ground]
    part_index[ground] = GROUND
    normal[ground] = (0.0, 0.0, 1.0)
    local[ground] = origin + t_ground[ground, None] * dirs[ground]
    best[part_index == SKY] = np.inf
    return Hits(best, part_index, normal, local, parts, np.asarray(owners, dtype=np.int64),
                {owner: rays for owner, rays in coverage.items() if rays.size})


def in_shadow(groups: Sequence[RenderGroup], points: np.ndarray, sun: np.ndarray) -> np.ndarray:
    """Whether each surface point (M, 3, global frame, lifted a little off its surface by the caller)
    sees the sun (unit vector ``sun``) blocked by a part of any group: bool (M,).

    A group is tested only against the points whose sun ray passes within its bounding sphere: points
    are sorted along one axis of the plane perpendicular to the sun, so each group finds its candidates
    by a binary search instead of a pass over all points.
    """
    blocked = np.zeros(len(points), dtype=bool)
    across = np.cross(sun, (1.0, 0.0, 0.0) if abs(sun[0]) < 0.9 else (0.0, 1.0, 0.0))
    basis = np.stack([across / np.linalg.norm(across), np.cross(sun, across / np.linalg.norm(across)), sun])
    coords = points @ basis.T  # (u, v) across the sun rays, s along them.
    order = np.argsort(coords[:, 0])
    u_sorted = coords[order, 0]
    for group in groups:
        cu, cv, cs = basis @ group.global_from_group.translation
        radius = float(np.linalg.norm(group.half))
        rays = order[np.searchsorted(u_sorted, cu - radius):np.searchsorted(u_sorted, cu + radius, 'right')]
        rays = rays[(np.abs(coords[rays, 1] - cv) <= radius) & (coords[rays, 2] < cs + radius) & ~blocked[rays]]
        if rays.size == 0:
            continue
        rotation = group.global_from_group.rotation
        o_group = (points[rays] - group.global_from_group.translation) @ rotation
        d_group = np.broadcast_to(sun @ rotation, o_group.shape)
        for part in group.parts:
            blocked[rays[np.isfinite(_hit_part(part, o_group, d_group)[0])]] = True
    return blocked
