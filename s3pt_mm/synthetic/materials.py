"""Surface appearance of ray hits: albedo (RGB in [0, 1]) for cameras, reflectivity for the LiDAR.

The ground material is a function of the road-frame position (see :mod:`.world` for the layout):
asphalt with lane markings, curb, sidewalk tiles and a grass verge. Parts use their palette colour and
pattern (:mod:`.objects`), evaluated in the part frame.
"""
import numpy as np

from .object_models import BANDS, DIAGONAL, FACADE
from .raycast import GROUND, Hits
from .world import LANE_WIDTH, ROAD_HALF_WIDTH, SIDEWALK_OUTER, World

ROAD, WHITE_MARKING, YELLOW_MARKING, CURB, SIDEWALK, VERGE = range(6)
GROUND_ALBEDO = np.array([(0.30, 0.30, 0.32), (0.90, 0.90, 0.88), (0.85, 0.70, 0.15), (0.75, 0.75, 0.73),
                          (0.62, 0.61, 0.58), (0.33, 0.42, 0.22)])
GROUND_REFLECTIVITY = np.array([0.08, 0.55, 0.5, 0.2, 0.15, 0.25])
#: Ground materials that count as nuImages ``flat.driveable_surface``.
DRIVEABLE = (ROAD, WHITE_MARKING, YELLOW_MARKING)
LINE_HALF_WIDTH = 0.075
DASH_PERIOD, DASH_LENGTH = 9.0, 3.0
CURB_WIDTH = 0.25


def hash_noise(a: np.ndarray, b: np.ndarray, cell: float) -> np.ndarray:
    """Deterministic white noise in [0, 1) per ``cell``-sized square of the (a, b) plane."""
    ia, ib = np.floor(a / cell), np.floor(b / cell)
    return np.modf(np.abs(np.sin(ia * 12.9898 + ib * 78.233) * 43758.5453))[0]


def ground_material(world: World, points_global: np.ndarray) -> np.ndarray:
    """Material id (see module constants) of ground points (M, 3) given in the global frame."""
    road_xy = world.global_from_road.inverse().apply(points_global)[:, :2]
    x, y = road_xy[:, 0], road_xy[:, 1]
    ay = np.abs(y)
    material = np.select([ay <= ROAD_HALF_WIDTH, ay <= ROAD_HALF_WIDTH + CURB_WIDTH, ay <= SIDEWALK_OUTER],
                         [ROAD, CURB, SIDEWALK], VERGE)
    edge_line = np.abs(ay - (ROAD_HALF_WIDTH - 0.2)) < LINE_HALF_WIDTH
    dashes = (np.abs(ay - LANE_WIDTH) < LINE_HALF_WIDTH) & (np.mod(x, DASH_PERIOD) < DASH_LENGTH)
    material[edge_line | dashes] = WHITE_MARKING
    material[ay < LINE_HALF_WIDTH] = YELLOW_MARKING
    return material


def ground_albedo(world: World, points_global: np.ndarray, material: np.ndarray) -> np.ndarray:
    """RGB albedo (M, 3) of ground points: material colour with asphalt grain and sidewalk tile joints."""
    road_xy = world.global_from_road.inverse().apply(points_global)[:, :2]
    x, y = road_xy[:, 0], road_xy[:, 1]
    shade = 0.92 + 0.16 * hash_noise(x, y, 0.1)
    joints = (material == SIDEWALK) & ((np.mod(x, 1.5) < 0.06) | (np.mod(y, 1.5) < 0.06))
    shade[joints] *= 0.8
    return GROUND_ALBEDO[material] * shade[:, None]


def part_albedo(hits: Hits, rays: np.ndarray) -> np.ndarray:
    """RGB albedo (M, 3) of the part hits ``rays`` (indices of rays whose ``hits.part >= 0``)."""
    index = hits.part[rays]
    colour = np.array([p.colour for p in hits.parts])[index]
    colour2 = np.array([p.colour2 for p in hits.parts])[index]
    pattern = np.array([p.pattern for p in hits.parts])[index]
    half = np.array([p.half for p in hits.parts])[index]
    band = np.array([p.band for p in hits.parts])[index]
    local = hits.local[rays]
    height = local[:, 2] + half[:, 2]  # Metres above the part's bottom face.
    z_frac = height / (2 * half[:, 2])
    second = (pattern == BANDS) & (z_frac > band[:, 0]) & (z_frac < band[:, 1])
    second |= (pattern == DIAGONAL) & (np.mod(local[:, 1] + local[:, 2], 0.6) < 0.3)
    # Facades: window grid on the vertical faces, indexed by the horizontal coordinate along the face.
    face_axis = np.argmax(np.abs(local) / half, axis=1)
    along = np.where(face_axis == 1, local[:, 0], local[:, 1])
    windows = ((np.mod(along, 3.0) > 0.6) & (np.mod(along, 3.0) < 2.4) & (np.mod(height, 3.3) > 1.0)
               & (np.mod(height, 3.3) < 2.8) & (height > 1.0) & (height < 2 * half[:, 2] - 0.5))
    second |= (pattern == FACADE) & (face_axis != 2) & windows
    return np.where(second[:, None], colour2, colour)


def reflectivity(world: World, hits: Hits) -> np.ndarray:
    """LiDAR reflectivity in [0, 1] of every ray hit (N,); 0 for sky."""
    refl = np.zeros(len(hits.part))
    on_part = hits.part >= 0
    refl[on_part] = np.array([p.reflectivity for p in hits.parts])[hits.part[on_part]]
    on_ground = hits.part == GROUND
    refl[on_ground] = GROUND_REFLECTIVITY[ground_material(world, hits.local[on_ground])]
    return refl
