"""Official nuScenes / nuImages vocabularies the synthetic tables must use verbatim.

Names (categories, attributes, visibility levels, sensor channels, scene names, locations) are the
identifiers the devkits and downstream converters look up, so they match the real datasets exactly;
the free-text descriptions are our own.
"""

#: The 23 nuScenes object categories, in the order of their nuScenes-lidarseg ``index`` (1..23).
NUSCENES_CATEGORIES = {
    'animal': 'Any animal on or near the road.',
    'human.pedestrian.adult': 'An adult person walking or standing.',
    'human.pedestrian.child': 'A child.',
    'human.pedestrian.construction_worker': 'A person working at a construction site.',
    'human.pedestrian.personal_mobility': 'A person on a scooter, skateboard or similar device.',
    'human.pedestrian.police_officer': 'A police officer.',
    'human.pedestrian.stroller': 'A stroller or pram.',
    'human.pedestrian.wheelchair': 'A wheelchair, with or without a person.',
    'movable_object.barrier': 'A temporary barrier that blocks or guides traffic.',
    'movable_object.debris': 'Debris or movable litter on the road.',
    'movable_object.pushable_pullable': 'A cart, bin or other object a person pushes or pulls.',
    'movable_object.trafficcone': 'A traffic cone.',
    'static_object.bicycle_rack': 'A rack for parking bicycles.',
    'vehicle.bicycle': 'A bicycle, with or without its rider.',
    'vehicle.bus.bendy': 'An articulated bus.',
    'vehicle.bus.rigid': 'A rigid bus.',
    'vehicle.car': 'A passenger car, van, SUV or pick-up.',
    'vehicle.construction': 'A construction vehicle such as an excavator or crane.',
    'vehicle.emergency.ambulance': 'An ambulance.',
    'vehicle.emergency.police': 'A police car or motorcycle.',
    'vehicle.motorcycle': 'A motorcycle or scooter, with or without its rider.',
    'vehicle.trailer': 'A trailer towed by another vehicle.',
    'vehicle.truck': 'A truck for moving goods.',
}

#: nuImages adds two surface/ego classes to the nuScenes object categories.
NUIMAGES_CATEGORIES = dict(NUSCENES_CATEGORIES, **{
    'flat.driveable_surface': 'Road surface a car can drive on, including lane markings.',
    'vehicle.ego': 'Parts of the recording vehicle visible in its own cameras.',
})

#: The nuScenes attributes (nuImages uses them plus :data:`NUIMAGES_EXTRA_ATTRIBUTES`).
NUSCENES_ATTRIBUTES = {
    'vehicle.moving': 'The vehicle is driving.',
    'vehicle.stopped': 'The vehicle stands still for a moment, e.g. in traffic, and will move on.',
    'vehicle.parked': 'The vehicle is parked and not about to move.',
    'cycle.with_rider': 'Someone rides the bicycle or motorcycle.',
    'cycle.without_rider': 'Nobody rides the bicycle or motorcycle.',
    'pedestrian.sitting_lying_down': 'The person sits or lies.',
    'pedestrian.standing': 'The person stands still.',
    'pedestrian.moving': 'The person walks or runs.',
}
NUIMAGES_EXTRA_ATTRIBUTES = {
    'vehicle_light.emergency.flashing': 'The emergency lights are on.',
    'vehicle_light.emergency.not_flashing': 'The emergency lights are off.',
    'vertical_position.off_ground': 'The animal is off the ground, e.g. flying or climbing.',
    'vertical_position.on_ground': 'The animal is on the ground.',
}

#: nuScenes visibility bins: the real tables use the tokens '1'..'4'.
VISIBILITY_LEVELS = [
    ('1', 'v0-40', 'At most 40% of the object is visible in the 6 camera images.'),
    ('2', 'v40-60', 'Between 40% and 60% of the object is visible in the 6 camera images.'),
    ('3', 'v60-80', 'Between 60% and 80% of the object is visible in the 6 camera images.'),
    ('4', 'v80-100', 'More than 80% of the object is visible in the 6 camera images.'),
]

LIDAR_CHANNEL = 'LIDAR_TOP'

#: The ten v1.0-mini scenes (``nuscenes.utils.splits.mini_train`` + ``mini_val``) in generation order,
#: with the location each was recorded in; mini_val scenes sit at positions 1 and 5, so any dataset of
#: two or more scenes has a validation scene.
MINI_SCENES = [
    ('scene-0061', 'singapore-onenorth'),
    ('scene-0103', 'boston-seaport'),
    ('scene-0553', 'boston-seaport'),
    ('scene-0655', 'boston-seaport'),
    ('scene-0757', 'boston-seaport'),
    ('scene-0916', 'singapore-queenstown'),
    ('scene-0796', 'singapore-queenstown'),
    ('scene-1077', 'singapore-hollandvillage'),
    ('scene-1094', 'singapore-hollandvillage'),
    ('scene-1100', 'singapore-hollandvillage'),
]

LOCATIONS = ('singapore-onenorth', 'boston-seaport', 'singapore-queenstown', 'singapore-hollandvillage')

#: Vehicle id and UTC offset of the log names (``n015-2018-07-24-11-22-45+0800``) per location.
LOCATION_VEHICLE = {
    'singapore-onenorth': ('n015', 8),
    'singapore-queenstown': ('n015', 8),
    'singapore-hollandvillage': ('n015', 8),
    'boston-seaport': ('n008', -4),
}


def _nuimages_class_index():
    """Semantic class ids of nuImages ``get_segmentation``: 0 background, 1..23 the object categories in
    alphabetical order, 24 ``flat.driveable_surface`` and 31 ``vehicle.ego``."""
    special = {'flat.driveable_surface': 24, 'vehicle.ego': 31}
    objects = sorted(name for name in NUIMAGES_CATEGORIES if name not in special)
    return dict({name: i for i, name in enumerate(objects, start=1)}, **special)


NUIMAGES_CLASS_INDEX = _nuimages_class_index()
