"""Segmentation label sets: nuImages category mapping, label rendering, shared classes, IoU metrics."""
import base64
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from s3pt_mm.synthetic.taxonomy import NUIMAGES_CATEGORIES
from s3pt_mm.seg.classes import (CITYSCAPES_CLASSES, IGNORE_INDEX, NUIMAGES_SEG_CLASSES, SHARED_CLASS_NAMES,
                                 nuimages_class_id, shared_class_lut)
from s3pt_mm.seg.metrics import DomainTransferIoUMetric, PerClassIoUMetric
from s3pt_mm.converters.nuimages_seg import _image_layers, render_label

PAPER_OBJECT_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction vehicle', 'bicycle', 'motorcycle',
                        'pedestrian', 'traffic cone', 'barrier')  # Fig. 5 / Table 9


def test_nuimages_classes_are_the_papers_objects_plus_background_and_surface():
    assert NUIMAGES_SEG_CLASSES == ('background', 'driveable surface') + PAPER_OBJECT_CLASSES


def test_every_nuimages_category_is_mapped():
    # the 25 official category names (the synthetic generator uses them verbatim)
    ids = {name: nuimages_class_id(name) for name in NUIMAGES_CATEGORIES}
    assert ids['vehicle.bus.bendy'] == ids['vehicle.bus.rigid'] == NUIMAGES_SEG_CLASSES.index('bus')
    assert ids['human.pedestrian.police_officer'] == NUIMAGES_SEG_CLASSES.index('pedestrian')
    assert ids['flat.driveable_surface'] == 1
    for ignored in ('vehicle.ego', 'vehicle.emergency.ambulance', 'animal', 'human.pedestrian.stroller',
                    'static_object.bicycle_rack'):
        assert ids[ignored] == IGNORE_INDEX
    assert set(ids.values()) == set(range(1, 12)) | {IGNORE_INDEX}  # every class but background
    with pytest.raises(KeyError, match='vehicle.hovercraft.*known categories'):
        nuimages_class_id('vehicle.hovercraft')


def _rle(mask):
    rle = coco_mask.encode(np.asfortranarray(np.array(mask, dtype=np.uint8)))
    return {'size': list(rle['size']), 'counts': base64.b64encode(rle['counts']).decode()}


def test_converter_mapping_on_a_known_mask():
    """Surfaces over background, objects over surfaces in token order; ignored categories become 255."""
    cats = {'c_road': 'flat.driveable_surface', 'c_ego': 'vehicle.ego', 'c_car': 'vehicle.car',
            'c_amb': 'vehicle.emergency.ambulance', 'c_cone': 'movable_object.trafficcone'}
    road = [[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    ego = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    car = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    ambulance = [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]  # token 'o2' > 'o1': drawn over the car
    cone = [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    nuim = SimpleNamespace(
        category=[{'token': t, 'name': n} for t, n in cats.items()],
        surface_ann=[{'sample_data_token': 'sd', 'category_token': 'c_road', 'mask': _rle(road)},
                     {'sample_data_token': 'sd', 'category_token': 'c_ego', 'mask': _rle(ego)}],
        object_ann=[{'token': 'o2', 'sample_data_token': 'sd', 'category_token': 'c_amb', 'mask': _rle(ambulance)},
                    {'token': 'o1', 'sample_data_token': 'sd', 'category_token': 'c_car', 'mask': _rle(car)},
                    {'token': 'o3', 'sample_data_token': 'sd', 'category_token': 'c_cone', 'mask': None},
                    {'token': 'o4', 'sample_data_token': 'other', 'category_token': 'c_cone',
                     'mask': _rle(cone)}])
    layers = _image_layers(nuim)
    label = render_label(3, 4, layers['sd'])
    np.testing.assert_array_equal(label, [[2, 255, 255, 0], [2, 255, 255, 1], [1, 1, 1, 255]])
    assert label.dtype == np.uint8
    np.testing.assert_array_equal(render_label(3, 4, layers['other']), [[0] * 4, [0, 0, 0, 10], [0] * 4])


def test_shared_class_luts():
    nui = shared_class_lut('nuimages', unmatched=8)
    cs = shared_class_lut('cityscapes', unmatched=255)
    assert SHARED_CLASS_NAMES[nui[NUIMAGES_SEG_CLASSES.index('pedestrian')]] == 'pedestrian'
    assert SHARED_CLASS_NAMES[cs[CITYSCAPES_CLASSES.index('person')]] == 'pedestrian'
    assert SHARED_CLASS_NAMES[cs[CITYSCAPES_CLASSES.index('road')]] == 'driveable surface'
    assert SHARED_CLASS_NAMES[cs[CITYSCAPES_CLASSES.index('vegetation')]] == 'background'
    for name in ('trailer', 'construction vehicle', 'traffic cone', 'barrier'):
        assert nui[NUIMAGES_SEG_CLASSES.index(name)] == 8
    for name in ('rider', 'train'):
        assert cs[CITYSCAPES_CLASSES.index(name)] == 255
    assert nui[255] == cs[255] == 255 and nui[200] == 8


def _sample(pred, gt):
    return {'pred_sem_seg': {'data': torch.tensor([pred])}, 'gt_sem_seg': {'data': torch.tensor([gt])}}


def test_per_class_iou_metric_returns_every_class():
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=NUIMAGES_SEG_CLASSES)
    metric.process({}, [_sample([[0, 2], [2, 2]], [[0, 2], [2, 255]])])
    metrics = metric.evaluate(1)
    assert metrics['IoU.background'] == 100.0 and metrics['IoU.car'] == 100.0
    assert math.isnan(metrics['IoU.bus']) and metrics['mIoU'] == 100.0
    assert [k[4:] for k in metrics if k.startswith('IoU.')] == list(NUIMAGES_SEG_CLASSES)


def test_domain_transfer_metric_nuimages_to_cityscapes():
    cs = CITYSCAPES_CLASSES.index
    nui = NUIMAGES_SEG_CLASSES.index
    gt = [[cs('road'), cs('car'), cs('car'), cs('rider'), cs('sky'), 255]]
    pred = [[nui('driveable surface'), nui('car'), nui('trailer'), nui('car'), nui('background'), nui('car')]]
    metric = DomainTransferIoUMetric(source='nuimages', target='cityscapes')
    metric.dataset_meta = dict(classes=CITYSCAPES_CLASSES, palette=[])
    metric.process({}, [_sample(pred, gt)])
    metrics = metric.evaluate(1)
    # car: one of two true pixels found; the trailer prediction counts as a miss, the rider is ignored
    assert metrics['IoU.car'] == 50.0
    assert metrics['IoU.driveable surface'] == 100.0 and metrics['IoU.background'] == 100.0
    assert math.isnan(metrics['IoU.bus'])
    assert metrics['mIoU'] == pytest.approx(83.33, abs=0.01)
    assert [k[4:] for k in metrics if k.startswith('IoU.')] == list(SHARED_CLASS_NAMES)


def test_domain_transfer_metric_checks_its_datasets():
    with pytest.raises(ValueError, match='different'):
        DomainTransferIoUMetric(source='nuimages', target='nuimages')
    metric = DomainTransferIoUMetric(source='cityscapes', target='nuimages')
    with pytest.raises(ValueError, match='nuimages classes'):
        metric.dataset_meta = dict(classes=CITYSCAPES_CLASSES)
