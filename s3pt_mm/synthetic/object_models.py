"""Object models: every annotated object is a few coloured box / cylinder parts inside its 3D box.

Object frame (nuScenes box convention): origin at the box centre, x forward along the length ``l``,
y to the left along the width ``w``, z up along the height ``h``; sizes are ``(w, l, h)`` in metres.
Every part lies inside ``[-l/2, l/2] x [-w/2, w/2] x [-h/2, h/2]``, so LiDAR returns and pixels of an
object always fall inside its annotation box.

Appearance: every vehicle class (car, truck, bus, trailer, construction vehicle, motorcycle) draws its
paint from ONE shared palette (:data:`VEHICLE_PALETTE`) with a per-instance jitter of brightness and tint,
so the colour of a vehicle does not tell its class; cars come in body variants (sedan, hatchback, van
proportions). Every part carries a texture amplitude (grime, paint and material noise, evaluated by
:mod:`.materials`). Identical-looking instances (two cars of the same model and paint at different
depths, the situation of the S3PT paper's Figure 1) still occur: see :func:`.world.build_world`.
"""
import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np

BOX, CYLINDER = 0, 1
#: Surface patterns, evaluated in part coordinates by the renderer.
PLAIN, BANDS, DIAGONAL, FACADE = 0, 1, 2, 3

Colour = Tuple[float, float, float]

GLASS: Colour = (0.10, 0.13, 0.17)
TYRE: Colour = (0.05, 0.05, 0.05)
WHITE: Colour = (0.92, 0.92, 0.90)
#: Paint shared by all vehicle classes: whites, greys, black, reds, blues, greens, yellows, orange, beige, brown.
VEHICLE_PALETTE: List[Colour] = [
    (0.88, 0.88, 0.86), (0.66, 0.67, 0.69), (0.08, 0.08, 0.09), (0.35, 0.36, 0.38), (0.62, 0.08, 0.07),
    (0.12, 0.22, 0.50), (0.10, 0.28, 0.18), (0.72, 0.64, 0.50), (0.95, 0.72, 0.05), (0.95, 0.50, 0.10),
    (0.20, 0.45, 0.75), (0.25, 0.55, 0.30), (0.45, 0.28, 0.16), (0.55, 0.12, 0.35)]
CLOTHES: List[Colour] = [(0.10, 0.12, 0.30), (0.55, 0.10, 0.10), (0.85, 0.85, 0.80), (0.20, 0.20, 0.22),
                         (0.30, 0.45, 0.20), (0.75, 0.60, 0.20), (0.45, 0.30, 0.55)]
SKIN: List[Colour] = [(0.93, 0.76, 0.62), (0.78, 0.57, 0.42), (0.55, 0.37, 0.25), (0.35, 0.23, 0.16)]
VEST: Colour = (1.00, 0.55, 0.05)
CONE_ORANGE: Colour = (1.00, 0.35, 0.05)


@dataclass(frozen=True)
class Part:
    """One primitive of an object, in the object frame (metres).

    A box spans ``centre +- half``; a cylinder has a vertical axis through ``centre``, radius
    ``half[0]`` (``half[1]`` equals it) and half height ``half[2]``. ``pattern`` with ``colour2`` and
    ``band`` (fractions of the part height) describe the surface pattern, ``texture`` the amplitude of
    its multiplicative albedo noise (0: flat colour) and ``window_grid`` the (horizontal, storey)
    spacing of :data:`FACADE` windows in metres; ``reflectivity`` in [0, 1] scales the LiDAR intensity.
    """

    kind: int
    centre: Tuple[float, float, float]
    half: Tuple[float, float, float]
    colour: Colour
    pattern: int = PLAIN
    colour2: Colour = (0.0, 0.0, 0.0)
    band: Tuple[float, float] = (0.0, 0.0)
    reflectivity: float = 0.25
    texture: float = 0.2
    window_grid: Tuple[float, float] = (3.0, 3.3)


def box(x0, x1, y0, y1, z0, z1, colour, **kwargs) -> Part:
    """Axis-aligned (in the object frame) box part from its extents."""
    return Part(BOX, ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2), ((x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2),
                tuple(colour), **kwargs)


def cylinder(x, y, radius, z0, z1, colour, **kwargs) -> Part:
    """Vertical cylinder part from its axis position, radius and height extent."""
    return Part(CYLINDER, (x, y, (z0 + z1) / 2), (radius, radius, (z1 - z0) / 2), tuple(colour), **kwargs)


def pick_colour(rng: np.random.Generator, palette: List[Colour] = VEHICLE_PALETTE, jitter: float = 0.15,
                tint: float = 0.05) -> Colour:
    """A palette colour scaled by a brightness jitter (``1 +- jitter``) and a per-channel tint (``+- tint``)."""
    colour = np.array(palette[rng.integers(len(palette))])
    colour = colour * (1.0 + rng.uniform(-jitter, jitter)) + rng.uniform(-tint, tint, size=3)
    return tuple(np.clip(colour, 0.0, 1.0).tolist())


def _wheels(w, h, radius, axles, thickness=None) -> List[Part]:
    """One tyre box per axle at the given x positions (full width unless ``thickness`` is given)."""
    hw = w / 2 if thickness is None else thickness / 2
    return [box(x - radius, x + radius, -hw, hw, -h / 2, -h / 2 + 2 * radius, TYRE, reflectivity=0.1)
            for x in axles]


def _person(x, z0, height, half_width, rng, torso_colour=None) -> List[Part]:
    """Legs, torso, arms and head of a person standing at ``x`` from height ``z0`` (object frame)."""
    skin, legs = SKIN[rng.integers(len(SKIN))], CLOTHES[rng.integers(len(CLOTHES))]
    torso = torso_colour or CLOTHES[rng.integers(len(CLOTHES))]
    hx, hy = 0.14, min(0.22, 0.70 * half_width)
    z_hip, z_neck = z0 + 0.47 * height, z0 + 0.82 * height
    arm_y = min(half_width - 0.05, hy + 0.06)
    return [
        box(x - 0.12, x + 0.12, -0.7 * hy, 0.7 * hy, z0, z_hip, legs),
        box(x - hx, x + hx, -hy, hy, z_hip, z_neck, torso),
        box(x - 0.06, x + 0.06, arm_y - 0.05, arm_y + 0.05, z0 + 0.52 * height, z_neck, torso),
        box(x - 0.06, x + 0.06, -arm_y - 0.05, -arm_y + 0.05, z0 + 0.52 * height, z_neck, torso),
        cylinder(x, 0.0, 0.1, z_neck + 0.02 * height, z0 + height, skin),
    ]


def car(size, rng, rider=False) -> List[Part]:
    """A car body and a glazed cabin whose extent draws the body variant: sedan, hatchback or van."""
    w, l, h = size
    colour = pick_colour(rng)
    cabin_rear, cabin_front = rng.choice([(-0.38, 0.16), (-0.47, 0.12), (-0.48, 0.30)])
    z_belt = -h / 2 + rng.uniform(0.5, 0.62) * h
    return _wheels(w, h, 0.32, (-0.31 * l, 0.31 * l)) + [
        box(-l / 2, l / 2, -w / 2, w / 2, -h / 2 + 0.25, z_belt, colour, reflectivity=0.3),
        box(cabin_rear * l, cabin_front * l, -0.45 * w, 0.45 * w, z_belt, h / 2, colour, pattern=BANDS,
            colour2=GLASS, band=(0.0, 0.8), reflectivity=0.15),
    ]


def truck(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    cab, cargo = pick_colour(rng), pick_colour(rng)
    return _wheels(w, h, 0.5, (-0.35 * l, -0.22 * l, 0.36 * l)) + [
        box(l / 2 - 1.9, l / 2, -w / 2, w / 2, -h / 2 + 0.45, -h / 2 + 0.85 * h, cab, pattern=BANDS,
            colour2=GLASS, band=(0.55, 0.9), reflectivity=0.3),
        box(-l / 2, l / 2 - 2.0, -w / 2, w / 2, -h / 2 + 0.9, h / 2, cargo, reflectivity=0.35),
    ]


def bus(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    colour = pick_colour(rng)
    return _wheels(w, h, 0.5, (-0.3 * l, 0.32 * l)) + [
        box(-l / 2, l / 2, -w / 2, w / 2, -h / 2 + 0.35, h / 2, colour, pattern=BANDS, colour2=GLASS,
            band=(0.45, 0.85), reflectivity=0.3),
    ]


def trailer(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    colour = pick_colour(rng)
    return _wheels(w, h, 0.5, (-0.38 * l, -0.28 * l)) + [
        box(-l / 2, l / 2, -w / 2, w / 2, -h / 2 + 1.1, h / 2, colour, reflectivity=0.35),
        box(0.3 * l - 0.15, 0.3 * l + 0.15, -0.4 * w, 0.4 * w, -h / 2, -h / 2 + 1.1, (0.2, 0.2, 0.2)),
    ]


def construction_vehicle(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    colour = pick_colour(rng)
    return [
        box(-l / 2, l / 2, -w / 2, w / 2, -h / 2, -h / 2 + 0.7, TYRE, reflectivity=0.1),
        box(-l / 2, 0.1 * l, -w / 2, w / 2, -h / 2 + 0.7, -h / 2 + 0.42 * h, colour, reflectivity=0.4),
        box(-l / 2 + 0.2, -0.05 * l, -w / 2, 0.05 * w, -h / 2 + 0.42 * h, -h / 2 + 0.82 * h, colour,
            pattern=BANDS, colour2=GLASS, band=(0.3, 0.9), reflectivity=0.3),
        box(-0.05 * l, l / 2, 0.1 * w, 0.35 * w, -h / 2 + 0.55 * h, h / 2, colour, reflectivity=0.4),
        box(0.35 * l, l / 2, -w / 2, w / 2, -h / 2 + 0.1, -h / 2 + 0.7, (0.25, 0.25, 0.25), reflectivity=0.3),
    ]


def pedestrian(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    return _person(0.0, -h / 2, h, w / 2, rng)


def construction_worker(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    return _person(0.0, -h / 2, h, w / 2, rng, torso_colour=VEST)


def bicycle(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    frame = pick_colour(rng, CLOTHES + [(0.1, 0.1, 0.1)])
    r = 0.33
    parts = _wheels(w, h, r, (-l / 2 + r, l / 2 - r), thickness=0.08) + [
        box(-l / 2 + r, l / 2 - r, -0.04, 0.04, -h / 2 + 0.35, -h / 2 + 0.75, frame),
        box(l / 2 - r - 0.05, l / 2 - r + 0.05, -0.25, 0.25, -h / 2 + 0.9, -h / 2 + 1.0, (0.1, 0.1, 0.1)),
    ]
    if rider:
        parts += _person(-0.1, -h / 2 + 0.3, h - 0.3, w / 2, rng)
    return parts


def motorcycle(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    colour = pick_colour(rng)
    r = 0.32
    parts = _wheels(w, h, r, (-l / 2 + r, l / 2 - r), thickness=0.16) + [
        box(-l / 2 + 0.3, l / 2 - 0.25, -0.2, 0.2, -h / 2 + 0.3, -h / 2 + 0.85, colour, reflectivity=0.35),
        box(l / 2 - 0.45, l / 2 - 0.35, -w / 2, w / 2, -h / 2 + 0.85, -h / 2 + 0.95, (0.1, 0.1, 0.1)),
    ]
    if rider:
        parts += _person(-0.15, -h / 2 + 0.45, h - 0.45, w / 2, rng)
    return parts


def traffic_cone(size, rng, rider=False) -> List[Part]:
    w, l, h = size
    z0 = -h / 2 + 0.04
    step = (h / 2 - z0) / 3
    return [box(-l / 2, l / 2, -w / 2, w / 2, -h / 2, z0, (0.15, 0.15, 0.15))] + [
        cylinder(0.0, 0.0, radius, z0 + i * step, z0 + (i + 1) * step, CONE_ORANGE, reflectivity=0.7,
                 **({'pattern': BANDS, 'colour2': WHITE, 'band': (0.2, 0.8)} if i == 1 else {}))
        for i, radius in enumerate((0.37 * w, 0.27 * w, 0.17 * w))]


def barrier(size, rng, rider=False) -> List[Part]:
    """Barrier: its long side is the box width (y), as in nuScenes."""
    w, l, h = size
    if rng.random() < 0.5:  # Plastic / concrete block.
        colour = pick_colour(rng, [(0.62, 0.62, 0.60), CONE_ORANGE, (0.85, 0.1, 0.1)], jitter=0.05)
        return [box(-l / 2, l / 2, -w / 2, w / 2, -h / 2, h / 2, colour, pattern=BANDS, colour2=WHITE,
                    band=(0.55, 0.75), reflectivity=0.5)]
    return [  # Striped board on two feet.
        box(-0.06, 0.06, -w / 2, w / 2, h / 2 - 0.4, h / 2, (0.85, 0.1, 0.1), pattern=DIAGONAL, colour2=WHITE,
            reflectivity=0.6),
        box(-l / 2, l / 2, -w / 2, -w / 2 + 0.25, -h / 2, h / 2 - 0.4, (0.3, 0.3, 0.3)),
        box(-l / 2, l / 2, w / 2 - 0.25, w / 2, -h / 2, h / 2 - 0.4, (0.3, 0.3, 0.3)),
    ]


@dataclass(frozen=True)
class ClassSpec:
    """How to size and build instances of one nuScenes category."""

    category: str
    mean_size: Tuple[float, float, float]  # (w, l, h) in metres, with the rider for cycles.
    build: Callable[[Tuple[float, float, float], np.random.Generator, bool], List[Part]]
    size_jitter: float = 0.1


CLASSES: Dict[str, ClassSpec] = {spec.category: spec for spec in [
    ClassSpec('vehicle.car', (1.95, 4.6, 1.65), car),
    ClassSpec('vehicle.truck', (2.5, 7.2, 3.1), truck),
    ClassSpec('vehicle.bus.rigid', (2.95, 11.0, 3.4), bus),
    ClassSpec('vehicle.trailer', (2.9, 11.0, 3.9), trailer),
    ClassSpec('vehicle.construction', (2.8, 6.5, 3.2), construction_vehicle),
    ClassSpec('human.pedestrian.adult', (0.67, 0.73, 1.77), pedestrian),
    ClassSpec('human.pedestrian.child', (0.5, 0.5, 1.25), pedestrian),
    ClassSpec('human.pedestrian.construction_worker', (0.7, 0.75, 1.78), construction_worker),
    ClassSpec('vehicle.bicycle', (0.6, 1.75, 1.75), bicycle),
    ClassSpec('vehicle.motorcycle', (0.8, 2.1, 1.55), motorcycle),
    ClassSpec('movable_object.trafficcone', (0.41, 0.41, 0.95), traffic_cone),
    ClassSpec('movable_object.barrier', (2.5, 0.5, 1.0), barrier),
]}

#: Height of a bicycle / motorcycle without its rider, metres.
RIDERLESS_HEIGHT = {'vehicle.bicycle': 1.1, 'vehicle.motorcycle': 1.2}


def fit_inside(parts: List[Part], size: Tuple[float, float, float], margin: float = 0.01) -> Tuple[Part, ...]:
    """Scale parts about the box centre so they stay ``margin`` metres inside every face of the box.

    LiDAR returns on an object are then inside its annotation box by a margin that float32 rounding
    cannot undo, so ``nuscenes.utils.geometry_utils.points_in_box`` counts exactly ``num_lidar_pts``.
    """
    w, l, h = size
    half = np.array([l, w, h]) / 2
    scale = (half - margin) / half
    return tuple(dataclasses.replace(
        p, centre=tuple((np.array(p.centre) * scale).tolist()),
        half=tuple((np.array(p.half) * (scale if p.kind == BOX else np.array([scale[:2].min()] * 2 + [scale[2]]))
                    ).tolist())) for p in parts)


def sample_size(spec: ClassSpec, rng: np.random.Generator, rider: bool) -> Tuple[float, float, float]:
    """Instance size ``(w, l, h)``: the class mean scaled by a per-dimension jitter."""
    w, l, h = spec.mean_size
    if not rider and spec.category in RIDERLESS_HEIGHT:
        h = RIDERLESS_HEIGHT[spec.category]
    scale = 1.0 + rng.uniform(-spec.size_jitter, spec.size_jitter, size=3)
    return tuple(float(round(v, 3)) for v in np.array([w, l, h]) * scale)
