"""Label sets of the segmentation benchmarks (paper §4.2, appendix A.2.1) and the mappings between them.

nuImages (12 classes, ``ignore_index`` 255)
-------------------------------------------
The ten object classes of the paper's per-class results (Fig. 5, Table 9) are the nuScenes detection
classes; nuImages' two kinds of pixels without an object annotation make the other two classes:

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
255 (ignored)            vehicle.ego (surface_ann), and the object categories the nuScenes detection
                         classes leave out: animal, human.pedestrian.personal_mobility, .stroller,
                         .wheelchair, movable_object.debris, .pushable_pullable,
                         static_object.bicycle_rack, vehicle.emergency.ambulance, .police
==  ===================  ============================================================================

The object-to-class grouping is the nuScenes detection one (``nuscenes.eval.detection``), so the
segmentation classes are the ones 3D detection (Table 4) reports. Categories without a class are ignored
rather than called background: an ambulance labelled "background" would teach the head that a vehicle
is not one. The ego vehicle is ignored because it is a fixed part of each camera image.

Cityscapes: mmseg's ``CityscapesDataset`` label set (19 train ids, 255 ignored).

Domain transfer (Table 3)
-------------------------
Both label sets are mapped onto the classes they share; a class of either set without a counterpart
is left out: ground truth of such a class is ignored, and a prediction of it is simply wrong.

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

Without counterpart: nuImages trailer, construction vehicle, traffic cone, barrier; Cityscapes rider
(nuImages annotates a rider as part of the bicycle / motorcycle) and train.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

IGNORE_INDEX = 255

NUIMAGES_SEG_CLASSES = ('background', 'driveable surface', 'car', 'truck', 'trailer', 'bus',
                        'construction vehicle', 'bicycle', 'motorcycle', 'pedestrian', 'traffic cone',
                        'barrier')
NUIMAGES_SEG_PALETTE = [[0, 0, 0], [128, 64, 128], [0, 0, 142], [0, 0, 70], [255, 158, 0], [0, 60, 100],
                        [233, 150, 70], [119, 11, 32], [0, 0, 230], [220, 20, 60], [47, 79, 79],
                        [112, 128, 144]]

#: nuImages category name -> segmentation class name, or None: ignored (255).
NUIMAGES_CATEGORY_TO_CLASS: Dict[str, str] = {
    'flat.driveable_surface': 'driveable surface',
    'vehicle.ego': None,
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
LABEL_SETS: Dict[str, Sequence[str]] = {'nuimages': NUIMAGES_SEG_CLASSES, 'cityscapes': CITYSCAPES_CLASSES}


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
        label_set: ``'nuimages'`` or ``'cityscapes'`` (:data:`LABEL_SETS`).
        unmatched: the value of the classes without a shared counterpart, and of every id outside the
            label set except 255, which stays 255.
    """
    if label_set not in LABEL_SETS:
        raise KeyError(f'unknown label set {label_set!r}; choose from {sorted(LABEL_SETS)}')
    column = 1 if label_set == 'nuimages' else 2
    classes = LABEL_SETS[label_set]
    lut = np.full(256, unmatched, dtype=np.uint8)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    for shared_id, entry in enumerate(SHARED_CLASSES):
        for name in entry[column]:
            lut[classes.index(name)] = shared_id
    return lut
