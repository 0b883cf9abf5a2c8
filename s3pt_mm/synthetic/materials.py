"""Surface appearance of ray hits: albedo (RGB in [0, 1]) for cameras, reflectivity for the LiDAR.

The ground material is a function of the road-frame position (see :mod:`.world` for the layout):
asphalt with lane markings, curb, sidewalk tiles and a grass verge, in the scene's tones
(:class:`~.world.SceneLook`). Parts use their colour and pattern (:mod:`.object_models`), evaluated in
the part frame. Everything is textured with smooth value noise (:func:`value_noise`): asphalt grain
and repair patches, sidewalk tiles of varying shade, grass, facade stains, paint and grime, so that no
class is one flat colour.
"""
import numpy as np

from .object_models import BANDS, DIAGONAL, FACADE
from .raycast import GROUND, Hits
from .world import LANE_WIDTH, ROAD_HALF_WIDTH, SIDEWALK_OUTER, World

ROAD, WHITE_MARKING, YELLOW_MARKING, CURB, SIDEWALK, VERGE = range(6)
#: Albedo of the painted and concrete ground materials; road, sidewalk and verge take the scene's tones.
MARKING_ALBEDO = {WHITE_MARKING: (0.90, 0.90, 0.88), YELLOW_MARKING: (0.85, 0.70, 0.15), CURB: (0.75, 0.75, 0.73)}
GROUND_REFLECTIVITY = np.array([0.08, 0.55, 0.5, 0.2, 0.15, 0.25])
#: Ground materials that count as nuImages ``flat.driveable_surface``.
DRIVEABLE = (ROAD, WHITE_MARKING, YELLOW_MARKING)
LINE_HALF_WIDTH = 0.075
DASH_PERIOD, DASH_LENGTH = 9.0, 3.0
CURB_WIDTH = 0.25


def hash_noise(a: np.ndarray, b: np.ndarray, cell: float) -> np.ndarray:
    """Deterministic white noise in [0, 1) per ``cell``-sized square of the (a, b) plane."""
    return _lattice(np.floor(a / cell), np.floor(b / cell))


def _lattice(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    return np.modf(np.abs(np.sin(ia * 12.9898 + ib * 78.233) * 43758.5453))[0]


def value_noise(a: np.ndarray, b: np.ndarray, cells=(2.0, 0.5, 0.12)) -> np.ndarray:
    """Smooth noise in [0, 1] of the (a, b) plane: lattice noise at each ``cells`` size (metres), smoothly
    interpolated, averaged over the octaves and contrast-stretched back to about the spread of one
    octave (clipped to [0, 1]); deterministic and seamless."""
    total = np.zeros(np.broadcast(a, b).shape)
    for octave, cell in enumerate(cells):
        fa, fb = a / cell + 17.0 * octave, b / cell
        ia, ib = np.floor(fa), np.floor(fb)
        wa, wb = fa - ia, fb - ib
        wa, wb = wa * wa * (3 - 2 * wa), wb * wb * (3 - 2 * wb)
        bottom = _lattice(ia, ib) * (1 - wa) + _lattice(ia + 1, ib) * wa
        top = _lattice(ia, ib + 1) * (1 - wa) + _lattice(ia + 1, ib + 1) * wa
        total += bottom * (1 - wb) + top * wb
    return np.clip(0.5 + (total / len(cells) - 0.5) * np.sqrt(len(cells)), 0.0, 1.0)


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
    """RGB albedo (M, 3) of ground points: the scene's asphalt with grain and darker repair patches,
    sidewalk tiles of varying shade with joints, textured grass, plain markings and curb."""
    road_xy = world.global_from_road.inverse().apply(points_global)[:, :2]
    x, y = road_xy[:, 0], road_xy[:, 1]
    look = world.look
    table = np.array([look.asphalt, MARKING_ALBEDO[WHITE_MARKING], MARKING_ALBEDO[YELLOW_MARKING],
                      MARKING_ALBEDO[CURB], look.sidewalk, look.verge])
    shade = 0.8 + 0.4 * value_noise(x, y, (3.0, 0.4, 0.08))
    patches = (material == ROAD) & (value_noise(x + 500.0, y, (6.0, 1.5)) > 0.68)
    shade[patches] *= 0.75
    tile = (material == SIDEWALK)
    shade[tile] = 0.85 + 0.3 * hash_noise(x[tile], y[tile], 0.75)
    joints = tile & ((np.mod(x, 0.75) < 0.04) | (np.mod(y, 0.75) < 0.04))
    shade[joints] *= 0.75
    grass = material == VERGE
    shade[grass] = 0.6 + 0.8 * value_noise(x[grass], y[grass], (1.0, 0.2, 0.05))
    return table[material] * shade[:, None]


def part_albedo(hits: Hits, rays: np.ndarray) -> np.ndarray:
    """RGB albedo (M, 3) of the part hits ``rays`` (indices of rays whose ``hits.part >= 0``)."""
    index = hits.part[rays]
    parts = hits.parts
    colour = np.array([p.colour for p in parts])[index]
    colour2 = np.array([p.colour2 for p in parts])[index]
    pattern = np.array([p.pattern for p in parts])[index]
    half = np.array([p.half for p in parts])[index]
    band = np.array([p.band for p in parts])[index]
    texture = np.array([p.texture for p in parts])[index]
    grid = np.array([p.window_grid for p in parts])[index]
    # Each part gets its own noise field: offset the coordinates by a hash of its size and centre.
    offset = (np.array([np.sum(np.multiply(p.half, (31.7, 17.3, 7.9))) + np.sum(p.centre) for p in parts])
              * 13.1)[index]
    local = hits.local[rays]
    height = local[:, 2] + half[:, 2]  # Metres above the part's bottom face.
    z_frac = height / (2 * half[:, 2])
    second = (pattern == BANDS) & (z_frac > band[:, 0]) & (z_frac < band[:, 1])
    second |= (pattern == DIAGONAL) & (np.mod(local[:, 1] + local[:, 2], 0.6) < 0.3)
    # Facades: window grid on the vertical faces, indexed by the horizontal coordinate along the face.
    face_axis = np.argmax(np.abs(local) / half, axis=1)
    along = np.where(face_axis == 1, local[:, 0], local[:, 1])
    step, storey = grid[:, 0], grid[:, 1]
    windows = ((np.mod(along, step) > 0.2 * step) & (np.mod(along, step) < 0.8 * step)
               & (np.mod(height, storey) > 0.3 * storey) & (np.mod(height, storey) < 0.85 * storey)
               & (height > 1.0) & (height < 2 * half[:, 2] - 0.5))
    second |= (pattern == FACADE) & (face_axis != 2) & windows
    # Texture in the face's own coordinates (top faces: x, y; side faces: along the face, height).
    u = np.where(face_axis == 2, local[:, 0], along) + offset
    v = np.where(face_axis == 2, local[:, 1], height)
    shade = 1.0 + texture * (2.0 * value_noise(u, v, (1.5, 0.3, 0.07)) - 1.0)
    return np.where(second[:, None], colour2, colour) * shade[:, None]


def reflectivity(world: World, hits: Hits) -> np.ndarray:
    """LiDAR reflectivity in [0, 1] of every ray hit (N,); 0 for sky."""
    refl = np.zeros(len(hits.part))
    on_part = hits.part >= 0
    refl[on_part] = np.array([p.reflectivity for p in hits.parts])[hits.part[on_part]]
    on_ground = hits.part == GROUND
    refl[on_ground] = GROUND_REFLECTIVITY[ground_material(world, hits.local[on_ground])]
    return refl
