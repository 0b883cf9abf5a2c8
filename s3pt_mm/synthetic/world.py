"""Procedural 3D driving scene: a straight road with traffic, sidewalks, pedestrians and buildings.

Layout in the **road frame** (x along the road, y to the left, z up, metres; ground is z = 0):

* four 3.5 m lanes: ``y = -5.25`` (parking / cycling, heading +x), ``-1.75`` (ego lane, +x),
  ``+1.75`` (oncoming, -x) and ``+5.25`` (parking / cycling, -x); road edge at ``|y| = 7``;
* sidewalks ``7 <= |y| <= 10.5`` with pedestrians and trees, then a verge and building blocks from
  ``|y| ~ 12`` on.

The ego vehicle starts at the road-frame origin's ``x = 0`` in the ego lane and drives along +x at
constant speed. Every object moves at constant velocity along its heading (speed 0 for parked /
standing ones) and never overlaps another object or the ego vehicle at the scene's sample times.
Each scene guarantees one instance of every nuScenes detection class near the ego start (within 40 m
along the road for cars, trucks, buses, trailers and construction vehicles, 25 m for the others),
with a free line of sight from the LiDAR at the first sample, a pair of identical parked cars one
behind the other, and groups of adjacent same-class objects (a row of parked cars bumper to bumper, a
group of pedestrians side by side, a line of cones); then it adds random traffic between -70 m and
+90 m (past the ego's travel), so that small and distant objects are common.

Appearance and lighting vary per scene (:class:`SceneLook`): sun direction and intensity, ambient
light, exposure, sky colours, asphalt / sidewalk / verge tones and the camera noise level. Building
facades draw a colour, a texture amplitude and a window grid each.

The road frame maps to the global frame by a random yaw and a translation chosen by the caller.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .geometry import Pose
from .object_models import CLASSES, FACADE, GLASS, Part, box, cylinder, fit_inside, pick_colour, sample_size

LANE_WIDTH = 3.5
ROAD_HALF_WIDTH = 7.0
SIDEWALK_OUTER = 10.5
ROAD_X_RANGE = (-130.0, 200.0)
#: Objects farther than this from the ego vehicle (xy, metres) are not annotated in a sample.
ANNOTATION_RANGE = 70.0
#: Ego footprint relative to the ego frame origin (rear axle): centre x offset and half (l, w), metres.
EGO_FOOTPRINT = (1.4, 2.45, 1.0)
#: Annotation boxes float this far (metres) above the ground, so ground returns never fall inside them.
GROUND_CLEARANCE = 0.02
#: LIDAR_TOP position in the road frame at t = 0, metres.
LIDAR_XY = (0.94, -LANE_WIDTH / 2)

#: Facade base colours; each building scales one by a brightness jitter and adds a tint.
BUILDING_PALETTE = [(0.78, 0.72, 0.60), (0.60, 0.60, 0.62), (0.62, 0.32, 0.25), (0.88, 0.87, 0.84),
                    (0.45, 0.55, 0.65), (0.70, 0.66, 0.55), (0.35, 0.33, 0.32), (0.75, 0.55, 0.40)]
TRUNK, CROWN = (0.35, 0.25, 0.15), (0.16, 0.36, 0.12)

#: Detection-class representatives guaranteed near the ego vehicle in every scene, small ones first.
GUARANTEED = ('movable_object.trafficcone', 'movable_object.barrier', 'human.pedestrian.adult', 'vehicle.bicycle',
              'vehicle.motorcycle', 'vehicle.car', 'vehicle.truck', 'vehicle.bus.rigid', 'vehicle.trailer',
              'vehicle.construction')
CYCLES = ('vehicle.bicycle', 'vehicle.motorcycle')
EXTRA_WEIGHTS = {
    'vehicle.car': 0.33, 'human.pedestrian.adult': 0.16, 'human.pedestrian.child': 0.02,
    'human.pedestrian.construction_worker': 0.02, 'vehicle.truck': 0.07, 'vehicle.bus.rigid': 0.04,
    'vehicle.trailer': 0.03, 'vehicle.construction': 0.03, 'vehicle.bicycle': 0.07, 'vehicle.motorcycle': 0.06,
    'movable_object.trafficcone': 0.09, 'movable_object.barrier': 0.06}


@dataclass(frozen=True)
class SceneObject:
    """An annotated object moving at constant velocity (road frame, metres, seconds)."""

    category: str
    size: Tuple[float, float, float]  # (w, l, h)
    start_xy: Tuple[float, float]  # box centre at t = 0
    heading: float  # yaw of the object's x axis, radians
    speed: float  # metres per second along the heading
    attribute: Optional[str]
    parts: Tuple[Part, ...]

    def road_pose(self, t: float) -> Pose:
        """``road_from_object`` at time ``t``: box centre (z = h / 2 + GROUND_CLEARANCE) and heading."""
        x, y = np.asarray(self.start_xy) + self.speed * t * np.array([np.cos(self.heading), np.sin(self.heading)])
        return Pose.from_yaw(self.heading, (x, y, self.size[2] / 2 + GROUND_CLEARANCE))


@dataclass(frozen=True)
class RenderGroup:
    """Parts sharing one pose, bounded by the box ``+-half`` of the group frame (used for culling)."""

    owner: int  # Index of the annotated object, -1 for scenery.
    global_from_group: Pose
    half: np.ndarray  # (3,) half extents of the bounding box, metres.
    parts: Tuple[Part, ...]


@dataclass(frozen=True)
class SceneLook:
    """Per-scene appearance: lighting, exposure, sky and ground tones (RGB in [0, 1]), sensor noise.

    The renderer lights a surface with ``ambient + sun_intensity * max(0, n . sun)`` (the sun term is
    0 in cast shadows), multiplies by ``exposure`` and adds Gaussian noise of standard deviation
    ``noise_sigma`` (in [0, 1] units, plus a shot-noise part growing with brightness); the noise of an
    image is drawn from ``noise_seed``, the camera and the time, so re-rendering gives the same image.
    """

    ambient: float
    sun_intensity: float
    exposure: float
    sky_horizon: Tuple[float, float, float]
    sky_zenith: Tuple[float, float, float]
    asphalt: Tuple[float, float, float]
    sidewalk: Tuple[float, float, float]
    verge: Tuple[float, float, float]
    noise_sigma: float
    noise_seed: int


def _scene_look(rng: np.random.Generator) -> SceneLook:
    """Draw the appearance of a scene: from bright sun with hard shadows to overcast, dim or hazy light."""
    overcast = rng.uniform(0.0, 1.0)  # 0: clear sky, 1: overcast (weak sun, strong ambient, grey sky).
    clear_zenith, grey = np.array([0.42, 0.60, 0.85]), np.array([0.70, 0.72, 0.74])
    zenith = (1 - overcast) * clear_zenith + overcast * grey + rng.uniform(-0.05, 0.05, 3)
    horizon = np.clip(0.5 * (zenith + 1.0) + rng.uniform(-0.06, 0.03, 3), 0, 1)
    asphalt = rng.uniform(0.18, 0.42) * np.array([1.0, 1.0, 1.04]) + rng.uniform(-0.02, 0.02, 3)
    sidewalk = rng.uniform(0.45, 0.75) * np.array([1.0, 0.98, 0.93]) + rng.uniform(-0.04, 0.04, 3)
    verge = np.array([0.33, 0.42, 0.22]) * rng.uniform(0.7, 1.3) + rng.uniform(-0.06, 0.06, 3)
    return SceneLook(
        ambient=float(rng.uniform(0.3, 0.45) + 0.25 * overcast),
        sun_intensity=float(rng.uniform(0.55, 0.85) * (1 - 0.8 * overcast)), exposure=float(rng.uniform(0.75, 1.3)),
        sky_horizon=tuple(np.clip(horizon, 0, 1).tolist()),
        sky_zenith=tuple(np.clip(zenith, 0, 1).tolist()), asphalt=tuple(np.clip(asphalt, 0, 1).tolist()),
        sidewalk=tuple(np.clip(sidewalk, 0, 1).tolist()), verge=tuple(np.clip(verge, 0, 1).tolist()),
        noise_sigma=float(rng.uniform(0.005, 0.02)), noise_seed=int(rng.integers(2**31)))


@dataclass(frozen=True)
class World:
    """One scene: static layout, objects with trajectories and the ego trajectory."""

    global_from_road: Pose
    ego_speed: float  # m/s along +x of the road frame, in the lane y = -LANE_WIDTH / 2.
    objects: Tuple[SceneObject, ...]
    scenery: Tuple[Tuple[Pose, Tuple[Part, ...]], ...]  # (road_from_group, parts), static.
    sun: np.ndarray  # (3,) unit vector towards the sun, global frame.
    look: SceneLook

    def ego_pose(self, t: float) -> Pose:
        """``global_from_ego`` at time ``t`` (seconds from the scene start); z is 0 as in nuScenes."""
        return self.global_from_road @ Pose.from_yaw(0.0, (self.ego_speed * t, -LANE_WIDTH / 2, 0.0))

    def object_pose(self, index: int, t: float) -> Pose:
        """``global_from_object`` (box centre and heading) of object ``index`` at time ``t``."""
        return self.global_from_road @ self.objects[index].road_pose(t)

    def annotated(self, index: int, t: float) -> bool:
        """Whether object ``index`` is within :data:`ANNOTATION_RANGE` of the ego vehicle at ``t``."""
        offset = self.object_pose(index, t).translation - self.ego_pose(t).translation
        return bool(np.hypot(offset[0], offset[1]) <= ANNOTATION_RANGE)

    def render_groups(self, t: float) -> List[RenderGroup]:
        """Everything to ray cast at time ``t``, in the global frame."""
        groups = []
        for index, obj in enumerate(self.objects):
            w, l, h = obj.size
            groups.append(RenderGroup(index, self.object_pose(index, t), np.array([l, w, h]) / 2, obj.parts))
        for road_from_group, parts in self.scenery:
            groups.append(RenderGroup(-1, self.global_from_road @ road_from_group, _parts_half(parts), parts))
        return groups


def _parts_half(parts: Sequence[Part]) -> np.ndarray:
    """Half extents of the box around the group origin that contains all parts."""
    return np.max([np.abs(p.centre) + np.array(p.half) for p in parts], axis=0)


def _footprint_overlap(a, b) -> bool:
    """Separating-axis test of two oriented rectangles ``(centre (2,), yaw, half (2,))``."""
    axes = []
    corners = []
    for centre, yaw, half in (a, b):
        u = np.array([np.cos(yaw), np.sin(yaw)])
        v = np.array([-u[1], u[0]])
        axes += [u, v]
        corners.append(np.array([centre + sx * half[0] * u + sy * half[1] * v
                                 for sx in (-1, 1) for sy in (-1, 1)]))
    for axis in axes:
        pa, pb = corners[0] @ axis, corners[1] @ axis
        if pa.max() < pb.min() or pb.max() < pa.min():
            return False
    return True


def _segment_crosses(p0, p1, rect) -> bool:
    """Whether the 2D segment ``p0 -> p1`` touches the oriented rectangle ``(centre, yaw, half)``."""
    centre, yaw, half = rect
    c, s = np.cos(yaw), np.sin(yaw)
    to_rect = np.array([[c, s], [-s, c]])
    a, b = to_rect @ (np.asarray(p0) - centre), to_rect @ (np.asarray(p1) - centre)
    d = b - a
    t0, t1 = 0.0, 1.0
    for axis in (0, 1):
        if abs(d[axis]) < 1e-12:
            if abs(a[axis]) > half[axis]:
                return False
            continue
        ta, tb = (-half[axis] - a[axis]) / d[axis], (half[axis] - a[axis]) / d[axis]
        t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
    return t0 <= t1


@dataclass(frozen=True)
class _Track:
    """Footprint rectangles (road frame xy) of a constant-heading object at every sample time."""

    centres: np.ndarray  # (T, 2)
    yaw: float
    half: np.ndarray  # (2,) half length, half width

    def rect(self, k: int):
        return self.centres[k], self.yaw, self.half

    def overlaps(self, other: '_Track') -> bool:
        reach = np.linalg.norm(self.half) + np.linalg.norm(other.half)
        close = np.linalg.norm(self.centres - other.centres, axis=1) <= reach  # Bounding-circle pre-test.
        return any(_footprint_overlap(self.rect(k), other.rect(k)) for k in np.flatnonzero(close))


class _Placer:
    """Rejection sampling of non-overlapping object trajectories at the sample times.

    Objects added with ``protect=True`` keep a free 2D line of sight from the LiDAR at the first sample
    time: they are placed only where nothing blocks it, and later objects may not block it.
    """

    MARGIN = 0.3

    def __init__(self, rng: np.random.Generator, times: Sequence[float], ego_speed: float):
        self.rng, self.times = rng, np.asarray(times, dtype=np.float64)
        ego_x = ego_speed * self.times + EGO_FOOTPRINT[0]
        ego = _Track(np.stack([ego_x, np.full_like(ego_x, -LANE_WIDTH / 2)], axis=1), 0.0,
                     np.array(EGO_FOOTPRINT[1:]) + self.MARGIN)
        self.tracks = [ego]
        self.protected: List[_Track] = []
        self.objects: List[SceneObject] = []

    def _track(self, obj: SceneObject) -> _Track:
        w, l, _ = obj.size
        direction = np.array([np.cos(obj.heading), np.sin(obj.heading)])
        centres = np.asarray(obj.start_xy) + obj.speed * self.times[:, None] * direction
        return _Track(centres, obj.heading, np.array([l, w]) / 2 + self.MARGIN / 2)

    def try_add(self, obj: SceneObject, protect: bool = False) -> bool:
        track = self._track(obj)
        if any(track.overlaps(other) for other in self.tracks):
            return False
        if any(_segment_crosses(LIDAR_XY, target.centres[0], track.rect(0)) for target in self.protected):
            return False
        if protect and any(_segment_crosses(LIDAR_XY, track.centres[0], other.rect(0)) for other in self.tracks[1:]):
            return False
        self.tracks.append(track)
        self.objects.append(obj)
        if protect:
            self.protected.append(track)
        return True


def _propose(category: str, rng: np.random.Generator, x_range: Tuple[float, float]):
    """A random placement for ``category``: ``(start_xy, heading, speed, attribute, rider)``."""
    x = rng.uniform(*x_range)
    side = rng.choice([-1.0, 1.0])  # -1: lanes heading +x, +1: lanes heading -x.
    lane_heading = 0.0 if side < 0 else np.pi
    if category.startswith('human.pedestrian'):
        mode = rng.choice(['walking', 'standing', 'crossing'], p=[0.55, 0.35, 0.1])
        if mode == 'crossing':
            return (x, rng.uniform(-6.5, 6.5)), side * np.pi / 2, rng.uniform(1.0, 1.5), 'pedestrian.moving', False
        y = side * rng.uniform(7.6, 9.5)
        if mode == 'walking':
            heading = rng.choice([0.0, np.pi]) + rng.uniform(-0.1, 0.1)
            return (x, y), heading, rng.uniform(0.9, 1.6), 'pedestrian.moving', False
        return (x, y), rng.uniform(-np.pi, np.pi), 0.0, 'pedestrian.standing', False
    if category in CYCLES:
        if rng.random() < 0.65:  # Ridden: cycle lane for bicycles, traffic lanes for motorcycles.
            y = side * (3 * LANE_WIDTH / 2 if category == 'vehicle.bicycle' else LANE_WIDTH / 2)
            speed = rng.uniform(3.0, 6.0) if category == 'vehicle.bicycle' else rng.uniform(4.0, 11.0)
            return (x, y + rng.uniform(-0.4, 0.4)), lane_heading, speed, 'cycle.with_rider', True
        if category == 'vehicle.bicycle':  # Parked on the sidewalk edge, across or along it.
            heading = rng.choice([np.pi / 2, 0.0]) + rng.uniform(-0.2, 0.2)
            return (x, side * rng.uniform(7.4, 7.8)), heading, 0.0, 'cycle.without_rider', False
        heading = lane_heading + rng.uniform(-0.5, 0.5)  # Motorcycle parked at the road edge.
        return (x, side * rng.uniform(5.8, 6.4)), heading, 0.0, 'cycle.without_rider', False
    if category == 'movable_object.trafficcone':
        return (x, side * rng.uniform(3.7, 6.8)), rng.uniform(-np.pi, np.pi), 0.0, None, False
    if category == 'movable_object.barrier':
        heading = rng.choice([0.0, np.pi / 2]) + rng.uniform(-0.1, 0.1)
        return (x, side * rng.uniform(4.2, 6.4)), heading, 0.0, None, False
    # Four-wheeled vehicles.
    parked_only = category in ('vehicle.trailer', 'vehicle.construction')
    if parked_only or (category != 'vehicle.bus.rigid' and rng.random() < 0.45):
        y = side * (3 * LANE_WIDTH / 2 + rng.uniform(-0.1, 0.3))
        return (x, y), lane_heading + rng.uniform(-0.04, 0.04), 0.0, 'vehicle.parked', False
    y = side * LANE_WIDTH / 2 + rng.uniform(-0.2, 0.2)
    if rng.random() < 0.25:
        return (x, y), lane_heading, 0.0, 'vehicle.stopped', False
    top = 9.0 if category == 'vehicle.bus.rigid' else 13.0
    return (x, y), lane_heading, rng.uniform(3.0, top), 'vehicle.moving', False


def _make_object(category, rng, placement, parts: Optional[Tuple[Part, ...]] = None,
                 size=None) -> SceneObject:
    (x, y), heading, speed, attribute, rider = placement
    spec = CLASSES[category]
    size = size or sample_size(spec, rng, rider)
    parts = parts or fit_inside(spec.build(size, rng, rider), size)
    return SceneObject(category, size, (float(x), float(y)), float(heading), float(speed), attribute, parts)


def _place(placer: _Placer, category: str, x_range, protect: bool = False, tries: int = 40) -> None:
    for _ in range(tries):
        obj = _make_object(category, placer.rng, _propose(category, placer.rng, x_range))
        if placer.try_add(obj, protect):
            return


def _place_group(placer: _Placer, category: str, count: int, lateral: Tuple[float, float], across: bool,
                 gap: Tuple[float, float], attribute: Optional[str], identical: bool = False) -> None:
    """``count`` standing objects of ``category`` side by side along the road, ``gap`` metres apart.

    The group stands at ``|y|`` in ``lateral`` on a random side, 8-30 m ahead of or behind the ego start;
    its objects face along the road (``across=False``) or across it, towards the road. ``identical``
    objects share model, colour and size (two such cars are the S3PT paper's Figure 1 case).
    """
    rng, spec = placer.rng, CLASSES[category]
    for _ in range(40):
        side = rng.choice([-1.0, 1.0])
        heading = -side * np.pi / 2 if across else (0.0 if side < 0 else np.pi)
        y = side * rng.uniform(*lateral)
        x = rng.uniform(8.0, 30.0) * rng.choice([-1.0, 1.0])
        group, shape = [], None
        for _ in range(count):
            if shape is None or not identical:
                size = sample_size(spec, rng, rider=False)
                shape = size, fit_inside(spec.build(size, rng, False), size)
            size, parts = shape
            extent = size[0] if across else size[1]  # Along the road.
            if group:
                x += extent / 2 + rng.uniform(*gap)
            group.append(_make_object(category, rng, ((x, y), heading, 0.0, attribute, False), parts=parts,
                                      size=size))
            x += extent / 2
        state = (list(placer.tracks), list(placer.objects))
        if all(placer.try_add(obj) for obj in group):
            return
        placer.tracks, placer.objects = state


#: Groups of adjacent same-class objects in every scene: (category, count, |y| range, facing across the
#: road, gap range, attribute, identical).
GROUPS = (
    ('vehicle.car', 2, (5.35, 5.45), False, (0.8, 1.5), 'vehicle.parked', True),
    ('vehicle.car', 3, (5.2, 5.6), False, (0.5, 1.2), 'vehicle.parked', False),
    ('human.pedestrian.adult', 3, (8.0, 9.5), True, (0.35, 0.6), 'pedestrian.standing', False),
    ('movable_object.trafficcone', 5, (3.8, 4.2), False, (1.2, 2.5), None, False),
)


def _scenery(rng: np.random.Generator) -> Tuple[Tuple[Pose, Tuple[Part, ...]], ...]:
    """Building blocks behind both sidewalks and trees along their outer edge (road frame)."""
    groups = []
    for side in (-1.0, 1.0):
        x = ROAD_X_RANGE[0]
        while x < ROAD_X_RANGE[1]:
            width, depth, height = rng.uniform(8, 25), rng.uniform(8, 18), rng.uniform(5, 22)
            setback = rng.uniform(12.0, 14.0)
            colour = pick_colour(rng, BUILDING_PALETTE, jitter=0.2, tint=0.04)
            window_grid = (float(rng.uniform(2.2, 4.5)), float(rng.uniform(2.8, 3.8)))
            part = box(-width / 2, width / 2, -depth / 2, depth / 2, -height / 2, height / 2, colour,
                       pattern=FACADE, colour2=GLASS, reflectivity=0.2, texture=float(rng.uniform(0.1, 0.35)),
                       window_grid=window_grid)
            centre = (x + width / 2, side * (setback + depth / 2), height / 2)
            groups.append((Pose.from_yaw(0.0, centre), (part,)))
            x += width + (0.0 if rng.random() < 0.3 else rng.uniform(1.0, 6.0))
        x = ROAD_X_RANGE[0] + rng.uniform(0, 10)
        while x < ROAD_X_RANGE[1]:
            if rng.random() < 0.6:
                crown_r, crown_h = rng.uniform(1.2, 1.8), rng.uniform(2.0, 3.5)
                parts = (cylinder(0.0, 0.0, 0.15, 0.0, 2.3, TRUNK, reflectivity=0.3),
                         cylinder(0.0, 0.0, crown_r, 2.3, 2.3 + crown_h, CROWN, reflectivity=0.35, texture=0.3))
                groups.append((Pose.from_yaw(0.0, (x, side * 10.3, 0.0)), parts))
            x += rng.uniform(8.0, 16.0)
    return tuple(groups)


def build_world(rng: np.random.Generator, times: Sequence[float], global_xy: Tuple[float, float],
                num_extra_objects: int = 24) -> World:
    """Draw a scene for the sample ``times`` (seconds); the road origin is placed at ``global_xy``.

    Deterministic for a given generator state.
    """
    ego_speed = 0.0 if rng.random() < 0.1 else float(rng.uniform(3.0, 9.0))
    placer = _Placer(rng, times, ego_speed)
    travel = ego_speed * max(times)
    for category in GUARANTEED:
        reach = 40.0 if category.startswith('vehicle.') and category not in CYCLES else 25.0
        _place(placer, category, (-reach, reach), protect=True, tries=200)
    for group in GROUPS:
        _place_group(placer, *group)
    categories = list(EXTRA_WEIGHTS)
    weights = np.array([EXTRA_WEIGHTS[c] for c in categories])
    for category in rng.choice(categories, size=num_extra_objects, p=weights / weights.sum()):
        _place(placer, str(category), (-70.0, 90.0 + travel))
    yaw = float(rng.uniform(-np.pi, np.pi))
    sun_azimuth, sun_elevation = rng.uniform(-np.pi, np.pi), np.deg2rad(rng.uniform(15, 65))
    sun = np.array([np.cos(sun_elevation) * np.cos(sun_azimuth), np.cos(sun_elevation) * np.sin(sun_azimuth),
                    np.sin(sun_elevation)])
    return World(Pose.from_yaw(yaw, (global_xy[0], global_xy[1], 0.0)), ego_speed, tuple(placer.objects),
                 _scenery(rng), sun, _scene_look(rng))
