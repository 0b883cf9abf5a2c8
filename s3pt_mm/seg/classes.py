"""Label sets of the segmentation benchmarks (paper §4.2, appendix A.2.1) and the mappings between them.

nuImages (13 classes by default, ``ignore_index`` 255)
-----------------------------------------------------
The ten object classes of the paper's per-class results (Fig. 5, Table 9) are the nuScenes detection
classes; nuImages annotates exactly two surface categories (``surface_ann``: driveable surface and ego
vehicle), and every pixel without an annotation is background. Those three make the other classes:

==  ===================  ============================================================================
id  class                nuImages categories
==  ===================  ============================================================================
0   background           every pixel without an annotation (buildings, vegetation, sidewalk, sky, ...)
1   driveable surface    flat.driveable_surface (surface_ann)
2   car                  vehicle.car
3   truck                vehicle.truck
4   trailer              vehicle.trailer
5   bus                  vehicle.bus.bendy, vehicle.bus.rigid
6   construction vehicle vehicle.construction
7   bicycle              vehicle.bicycle
8   motorcycle           vehicle.motorcycle
9   pedestrian           human.pedestrian.adult, .child, .construction_worker, .police_officer
10  traffic cone         movable_object.trafficcone
11  barrier              movable_object.barrier
12  ego vehicle          vehicle.ego (surface_ann)
255 (ignored)            the object categories the nuScenes detection classes leave out: animal,
                         human.pedestrian.personal_mobility, .stroller, .wheelchair,
                         movable_object.debris, .pushable_pullable, static_object.bicycle_rack,
                         vehicle.emergency.ambulance, .police
==  ===================  ============================================================================

Why 13 and not 12: Table 9's "Overall" (ViT-S/16: 50.04) is a mean over more classes than its ten listed
objects (mean 37.09). Over 12 classes the two others would need (12 x 50.04 - 370.87) / 2 = 114.8 IoU on
average, impossible; over 13 the three others average (13 x 50.04 - 370.87) / 3 = 93.2, which fits
background, driveable surface and the ego vehicle (large, easy regions). The ego vehicle is the id 12, after
the objects, so ids 0-11 are those of the 12-class variant (:data:`NUIMAGES_SEG_CLASSES_12`, ego vehicle
ignored), which a dataset selects with ``metainfo=dict(classes=NUIMAGES_SEG_CLASSES_12)`` (mmseg's
``label_map`` then turns id 12 into 255; ``configs/segmentation/_base_/nuimages_12classes.py``).

The object-to-class grouping is the nuScenes detection one (``nuscenes.eval.detection``), so the
segmentation classes are the ones 3D detection (Table 4) reports. Categories without a class are ignored
rather than called background: an ambulance labelled "background" would teach the head that a vehicle
is not one.

Cityscapes: mmseg's ``CityscapesDataset`` label set (19 train ids, 255 ignored).

Domain transfer (Table 3)
-------------------------
The model predicts its source label set on the target images. The headline metric is the mean IoU over
**all target classes**: each source class is mapped to the one target class it stands for
(:func:`transfer_lut`); a source class standing for several target classes (nuImages background ->
ten Cityscapes classes) or for none (nuImages trailer, ...) counts as wrong, and a target class that no
source class stands for (Cityscapes rider, train; nuImages trailer, construction vehicle, traffic cone,
barrier, ego vehicle) gets IoU 0 wherever it occurs. The second number is the mean IoU over the classes
both sets share:

==================  =================  ==========================================================
shared class        nuImages           Cityscapes
==================  =================  ==========================================================
background          background         sidewalk, building, wall, fence, pole, traffic light,
                                       traffic sign, vegetation, terrain, sky
driveable surface   driveable surface  road
car                 car                car
truck               truck              truck
bus                 bus                bus
bicycle             bicycle            bicycle
motorcycle          motorcycle         motorcycle
pedestrian          pedestrian         person
==================  =================  ==========================================================

Without counterpart: nuImages trailer, construction vehicle, traffic cone, barrier, ego vehicle;
Cityscapes rider (nuImages annotates a rider as part of the bicycle / motorcycle) and train. In the
shared-class number, ground truth of such a class is ignored and a prediction of it is wrong.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

IGNORE_INDEX = 255

NUIMAGES_SEG_CLASSES = ('background', 'driveable surface', 'car', 'truck', 'trailer', 'bus',
                        'construction vehicle', 'bicycle', 'motorcycle', 'pedestrian', 'traffic cone',
                        'barrier', 'ego vehicle')
#: The 12-class variant: the ego vehicle ignored (255) instead of a class.
NUIMAGES_SEG_CLASSES_12 = NUIMAGES_SEG_CLASSES[:12]
NUIMAGES_SEG_PALETTE = [[0, 0, 0], [128, 64, 128], [0, 0, 142], [0, 0, 70], [255, 158, 0], [0, 60, 100],
                        [233, 150, 70], [119, 11, 32], [0, 0, 230], [220, 20, 60], [47, 79, 79],
                        [112, 128, 144], [255, 255, 255]]

#: nuImages category name -> segmentation class name, or None: ignored (255).
NUIMAGES_CATEGORY_TO_CLASS: Dict[str, str] = {
    'flat.driveable_surface': 'driveable surface',
    'vehicle.ego': 'ego vehicle',
    'vehicle.car': 'car',
    'vehicle.truck': 'truck',
    'vehicle.trailer': 'trailer',
    'vehicle.bus.bendy': 'bus',
    'vehicle.bus.rigid': 'bus',
    'vehicle.construction': 'construction vehicle',
    'vehicle.bicycle': 'bicycle',
    'vehicle.motorcycle': 'motorcycle',
    'human.pedestrian.adult': 'pedestrian',
    'human.pedestrian.child': 'pedestrian',
    'human.pedestrian.construction_worker': 'pedestrian',
    'human.pedestrian.police_officer': 'pedestrian',
    'movable_object.trafficcone': 'traffic cone',
    'movable_object.barrier': 'barrier',
    'animal': None,
    'human.pedestrian.personal_mobility': None,
    'human.pedestrian.stroller': None,
    'human.pedestrian.wheelchair': None,
    'movable_object.debris': None,
    'movable_object.pushable_pullable': None,
    'static_object.bicycle_rack': None,
    'vehicle.emergency.ambulance': None,
    'vehicle.emergency.police': None,
}

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck',
                      'bus', 'train', 'motorcycle', 'bicycle')

#: (shared class, nuImages classes, Cityscapes classes) for the domain-transfer evaluation.
SHARED_CLASSES: List[Tuple[str, Tuple[str, ...], Tuple[str, ...]]] = [
    ('background', ('background',),
     ('sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation',
      'terrain', 'sky')),
    ('driveable surface', ('driveable surface',), ('road',)),
    ('car', ('car',), ('car',)),
    ('truck', ('truck',), ('truck',)),
    ('bus', ('bus',), ('bus',)),
    ('bicycle', ('bicycle',), ('bicycle',)),
    ('motorcycle', ('motorcycle',), ('motorcycle',)),
    ('pedestrian', ('pedestrian',), ('person',)),
]
SHARED_CLASS_NAMES = tuple(name for name, _, _ in SHARED_CLASSES)

#: The label sets by name, as the domain-transfer configs refer to them.
LABEL_SETS: Dict[str, Sequence[str]] = {'nuimages': NUIMAGES_SEG_CLASSES, 'nuimages12': NUIMAGES_SEG_CLASSES_12,
                                         'cityscapes': CITYSCAPES_CLASSES}


def nuimages_class_id(category: str) -> int:
    """Segmentation class id of a nuImages category name (255: ignored).

    Raises:
        KeyError: a category this mapping does not know (a different nuImages release?), so that no
            pixel is ever given a class by accident.
    """
    if category not in NUIMAGES_CATEGORY_TO_CLASS:
        raise KeyError(f'nuImages category {category!r} has no segmentation mapping; known categories: '
                       f'{", ".join(sorted(NUIMAGES_CATEGORY_TO_CLASS))}')
    name = NUIMAGES_CATEGORY_TO_CLASS[category]
    return IGNORE_INDEX if name is None else NUIMAGES_SEG_CLASSES.index(name)


def shared_class_lut(label_set: str, unmatched: int) -> np.ndarray:
    """Look-up table (uint8, 256 entries) from the ids of ``label_set`` to shared class ids.

    Args:
        label_set: a name of :data:`LABEL_SETS`.
        unmatched: the value of the classes without a shared counterpart, and of every id outside the
            label set except 255, which stays 255.
    """
    column, classes = _label_set(label_set)
    lut = np.full(256, unmatched, dtype=np.uint8)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    for shared_id, entry in enumerate(SHARED_CLASSES):
        for name in entry[column]:
            lut[classes.index(name)] = shared_id
    return lut


def transfer_lut(source: str, target: str, unmatched: int) -> np.ndarray:
    """Look-up table (uint8, 256 entries) from the ids of ``source`` to the ids of ``target``.

    A source class maps to a target class when its shared class (:data:`SHARED_CLASSES`) holds exactly
    one target class (Cityscapes road -> nuImages driveable surface, the ten Cityscapes background classes
    -> nuImages background); every other source id maps to ``unmatched`` (nuImages background, which
    stands for ten Cityscapes classes; classes without counterpart), 255 stays 255.
    """
    source_column, source_classes = _label_set(source)
    target_column, target_classes = _label_set(target)
    if source_column == target_column:
        raise ValueError(f'domain transfer goes between nuImages and Cityscapes, got {source!r} -> {target!r}')
    lut = np.full(256, unmatched, dtype=np.uint8)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    for entry in SHARED_CLASSES:
        if len(entry[target_column]) == 1:
            for name in entry[source_column]:
                lut[source_classes.index(name)] = target_classes.index(entry[target_column][0])
    return lut


def _label_set(name: str) -> Tuple[int, Sequence[str]]:
    """(column of :data:`SHARED_CLASSES`, classes) of a label set name."""
    if name not in LABEL_SETS:
        raise KeyError(f'unknown label set {name!r}; choose from {sorted(LABEL_SETS)}')
    return (2 if name == 'cityscapes' else 1), LABEL_SETS[name]
