"""Segmentation label sets: nuImages category mapping, label rendering, shared classes, IoU metrics."""
import ast
import base64
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from s3pt_mm.seg.classes import (CITYSCAPES_CLASSES, IGNORE_INDEX, NUIMAGES_SEG_CLASSES, NUIMAGES_SEG_CLASSES_12,
                                 SHARED_CLASS_NAMES, nuimages_class_id, shared_class_lut, transfer_lut)
from s3pt_mm.seg.datasets import NuImagesSegDataset
from s3pt_mm.seg.metrics import DomainTransferIoUMetric, PerClassIoUMetric
from s3pt_mm.converters.nuimages_seg import LABEL_DIR, SPLIT_DIR, _image_layers, render_label, split_class_pixels
from s3pt_mm.seg.results import per_class_iou, present_class_miou

PAPER_OBJECT_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction vehicle', 'bicycle', 'motorcycle',
                        'pedestrian', 'traffic cone', 'barrier')  # Fig. 5 / Table 9
# Table 9 (Mask Transformer, S3PT): per-class IoU of the ten listed classes, and "Overall".
TABLE9 = {'ViT-Small/14': ([68.57, 36.1, 33.43, 42.59, 26.21, 12.47, 48.18, 23.41, 33.54, 65.82], 50.97),
          'ViT-Small/16': ([68.47, 41.52, 30.13, 34.9, 14.55, 9.33, 47.09, 22.1, 35.96, 66.82], 50.04),
          'ViT-Small/32': ([63.59, 30.72, 24.83, 32.12, 15.37, 10.5, 42.65, 14.75, 25.83, 61.74], 46.04)}


def devkit_categories():
    """The nuImages category names as the devkit's own tests list them, read from their source (the tests
    themselves need the dataset): the object categories with their attributes (``valid_attributes`` of
    ``tests/test_attributes.py``, which also lists ``vehicle.ego``) and the surface categories (the list
    ``tests/test_foreign_keys.py`` checks ``surface_ann`` against). Returns (all names, surface names)."""
    import nuimages

    def tree(name):
        return ast.walk(ast.parse((Path(nuimages.__file__).parent / 'tests' / name).read_text()))

    objects = [ast.literal_eval(node.value) for node in tree('test_attributes.py') if isinstance(node, ast.Assign)
               and ast.unparse(node.targets[0]) == 'self.valid_attributes'][0]
    # `... if cat['name'] in [<the surface categories>]`
    surfaces = [ast.literal_eval(node.comparators[0]) for node in tree('test_foreign_keys.py')
                if isinstance(node, ast.Compare) and ast.unparse(node.left) == "cat['name']"][0]
    return sorted(set(objects) | set(surfaces)), sorted(surfaces)


def test_table9_overall_needs_13_classes():
    """Over 12 classes the two classes beyond Table 9's ten would average > 100 IoU; over 13, the three
    (background, driveable surface, ego vehicle) average 90-94."""
    for listed, overall in TABLE9.values():
        assert (12 * overall - sum(listed)) / 2 > 100
        assert 85 < (13 * overall - sum(listed)) / 3 < 100
    assert (13 * 50.04 - 370.87) / 3 == pytest.approx(93.22, abs=0.01)  # docs/segmentation.md
    assert len(NUIMAGES_SEG_CLASSES) == 13


def test_nuimages_classes_are_the_papers_objects_plus_background_and_the_two_surfaces():
    assert NUIMAGES_SEG_CLASSES == ('background', 'driveable surface') + PAPER_OBJECT_CLASSES + ('ego vehicle', )
    assert NUIMAGES_SEG_CLASSES_12 == NUIMAGES_SEG_CLASSES[:12]


def test_every_devkit_category_is_mapped():
    from nuimages.utils.utils import name_to_index_mapping

    names, surfaces = devkit_categories()
    assert len(names) == 25 and surfaces == ['flat.driveable_surface', 'vehicle.ego']
    index = name_to_index_mapping([{'name': n} for n in names])  # the devkit's check: 23 objects + 2 surfaces
    assert sorted(n for n, i in index.items() if i > 23) == surfaces
    ids = {name: nuimages_class_id(name) for name in names}
    # both surface categories are classes of their own
    assert {NUIMAGES_SEG_CLASSES[ids[s]] for s in surfaces} == {'driveable surface', 'ego vehicle'}
    assert ids['vehicle.bus.bendy'] == ids['vehicle.bus.rigid'] == NUIMAGES_SEG_CLASSES.index('bus')
    assert ids['human.pedestrian.police_officer'] == NUIMAGES_SEG_CLASSES.index('pedestrian')
    for ignored in ('vehicle.emergency.ambulance', 'animal', 'human.pedestrian.stroller',
                    'static_object.bicycle_rack'):
        assert ids[ignored] == IGNORE_INDEX
    assert set(ids.values()) == set(range(1, 13)) | {IGNORE_INDEX}  # every class but background
    with pytest.raises(KeyError, match='vehicle.hovercraft.*known categories'):
        nuimages_class_id('vehicle.hovercraft')


def test_twelve_class_variant_ignores_the_ego_vehicle():
    label_map = NuImagesSegDataset.get_label_map(NUIMAGES_SEG_CLASSES_12)
    assert label_map == {**{i: i for i in range(12)}, 12: IGNORE_INDEX}


def _rle(mask):
    rle = coco_mask.encode(np.asfortranarray(np.array(mask, dtype=np.uint8)))
    return {'size': list(rle['size']), 'counts': base64.b64encode(rle['counts']).decode()}


def test_converter_mapping_on_a_known_mask():
    """Surfaces over background, objects over surfaces in token order; ignored categories become 255, the
    ego vehicle its class 12."""
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
    np.testing.assert_array_equal(label, [[2, 255, 255, 0], [2, 255, 255, 1], [1, 1, 1, 12]])
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


def test_present_class_miou_averages_the_ground_truth_classes_only():
    """Ground truth: background, car, car, driveable surface. Probe A labels the driveable pixel ego vehicle
    (absent from the ground truth: IoU 0, in mmseg's mean), probe B labels it background (ego vehicle NaN,
    out of mmseg's mean). mmseg gives both 50; over the three ground-truth classes A has 200/3, B 50."""
    gt = [[0, 2], [2, 1]]
    runs = {}
    for name, pred in (('A', [[0, 2], [2, 12]]), ('B', [[0, 2], [2, 0]])):
        metric = PerClassIoUMetric()
        metric.dataset_meta = dict(classes=NUIMAGES_SEG_CLASSES)
        metric.process({}, [_sample(pred, gt)])
        runs[name] = metric.evaluate(1)
    assert runs['A']['IoU.ego vehicle'] == 0.0 and math.isnan(runs['B']['IoU.ego vehicle'])
    assert runs['A']['mIoU'] == runs['B']['mIoU'] == 50.0  # (100 + 100 + 0 + 0) / 4 and (50 + 100 + 0) / 3
    present = ['background', 'driveable surface', 'car']
    assert math.isclose(present_class_miou(per_class_iou(runs['A']), present), 200 / 3)
    assert math.isclose(present_class_miou(per_class_iou(runs['B']), present), 50.0)
    with pytest.raises(ValueError, match='bus'):
        present_class_miou(per_class_iou(runs['A']), present + ['bus'])  # a ground-truth class without an IoU
    with pytest.raises(ValueError, match='no class'):
        present_class_miou(per_class_iou(runs['A']), [])


def test_split_class_pixels_counts_the_labels_of_the_split(tmp_path):
    from PIL import Image
    labels = {'samples/CAM_FRONT/a': np.array([[0, 0, 2], [255, 1, 2]], np.uint8),
              'samples/CAM_BACK/b': np.array([[7, 7], [0, 13]], np.uint8),  # 13: outside the 13 classes
              'samples/CAM_BACK/c': np.array([[4]], np.uint8)}  # not in the split
    for name, label in labels.items():
        (tmp_path / LABEL_DIR / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(label).save(tmp_path / LABEL_DIR / f'{name}.png')
    (tmp_path / SPLIT_DIR).mkdir()
    (tmp_path / SPLIT_DIR / 'val.txt').write_text('samples/CAM_FRONT/a\nsamples/CAM_BACK/b\n')
    expected = np.zeros(len(NUIMAGES_SEG_CLASSES), np.int64)
    expected[[0, 1, 2, 7]] = [3, 1, 2, 2]
    assert split_class_pixels(str(tmp_path), 'val').tolist() == expected.tolist()
    with pytest.raises(FileNotFoundError, match='train.txt'):
        split_class_pixels(str(tmp_path), 'train')
    (tmp_path / SPLIT_DIR / 'val.txt').write_text('samples/CAM_FRONT/missing\n')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        split_class_pixels(str(tmp_path), 'val')


def _transfer(source, target, pred, gt):
    metric = DomainTransferIoUMetric(source=source, target=target)
    metric.dataset_meta = dict(classes={'cityscapes': CITYSCAPES_CLASSES, 'nuimages': NUIMAGES_SEG_CLASSES}[target],
                               palette=[])
    metric.process({}, [_sample(pred, gt)])
    return metric.evaluate(1)


def test_transfer_luts():
    nui, cs = NUIMAGES_SEG_CLASSES.index, CITYSCAPES_CLASSES.index
    to_cs = transfer_lut('nuimages', 'cityscapes', unmatched=19)
    assert to_cs[nui('driveable surface')] == cs('road') and to_cs[nui('pedestrian')] == cs('person')
    assert to_cs[nui('background')] == 19  # ten Cityscapes classes: no single one
    assert to_cs[nui('trailer')] == to_cs[nui('ego vehicle')] == 19 and to_cs[255] == 255
    to_nui = transfer_lut('cityscapes', 'nuimages', unmatched=13)
    assert to_nui[cs('sky')] == to_nui[cs('building')] == nui('background')
    assert to_nui[cs('rider')] == to_nui[cs('train')] == 13
    with pytest.raises(ValueError, match='between nuImages and Cityscapes'):
        transfer_lut('nuimages', 'nuimages12', unmatched=0)


def test_domain_transfer_metric_nuimages_to_cityscapes_by_hand():
    cs, nui = CITYSCAPES_CLASSES.index, NUIMAGES_SEG_CLASSES.index
    gt = [[cs('road'), cs('car'), cs('car'), cs('rider'), cs('sky'), 255, cs('building')]]
    pred = [[nui('driveable surface'), nui('car'), nui('trailer'), nui('car'), nui('background'), nui('car'),
             nui('background')]]
    metrics = _transfer('nuimages', 'cityscapes', pred, gt)
    # All 19 Cityscapes classes (those present: road, car, rider, sky, building). Predictions as Cityscapes:
    # road, car, -, car, -, (ignored), -: road 1/1; car I 1, U 2 + 2 - 1 = 3; rider, sky, building 0.
    assert metrics['IoU.road'] == 100.0 and metrics['IoU.car'] == pytest.approx(33.33, abs=0.01)
    assert metrics['IoU.rider'] == metrics['IoU.sky'] == metrics['IoU.building'] == 0.0
    assert math.isnan(metrics['IoU.bus'])
    assert metrics['mIoU'] == pytest.approx((100 + 100 / 3) / 5, abs=0.01)
    assert metrics['aAcc'] == pytest.approx(100 * 2 / 6, abs=0.01)
    assert [k[4:] for k in metrics if k.startswith('IoU.')] == list(CITYSCAPES_CLASSES)
    # Shared classes: the rider is ignored, sky and building are background, the trailer prediction wrong:
    # driveable surface 1/1, car I 1 U 2, background 2/2.
    assert metrics['IoU_shared.car'] == 50.0 and metrics['IoU_shared.background'] == 100.0
    assert metrics['mIoU_shared'] == pytest.approx(250 / 3, abs=0.01)
    assert [k[11:] for k in metrics if k.startswith('IoU_shared.')] == list(SHARED_CLASS_NAMES)


def test_domain_transfer_metric_cityscapes_to_nuimages_by_hand():
    cs, nui = CITYSCAPES_CLASSES.index, NUIMAGES_SEG_CLASSES.index
    gt = [[nui('driveable surface'), nui('background'), nui('pedestrian'), nui('ego vehicle'), nui('trailer')]]
    pred = [[cs('road'), cs('vegetation'), cs('rider'), cs('road'), cs('truck')]]
    metrics = _transfer('cityscapes', 'nuimages', pred, gt)
    # As nuImages: driveable, background, -, driveable, truck. driveable I 1 U 2; background 1/1;
    # pedestrian, ego vehicle, trailer 0 (no Cityscapes class stands for the last two); truck I 0 U 1.
    assert metrics['IoU.driveable surface'] == 50.0 and metrics['IoU.background'] == 100.0
    assert metrics['IoU.ego vehicle'] == metrics['IoU.trailer'] == metrics['IoU.truck'] == 0.0
    assert metrics['mIoU'] == pytest.approx(150 / 6, abs=0.01)
    # Shared: ego vehicle and trailer ignored; driveable 1/1, background 1/1, pedestrian 0.
    assert metrics['mIoU_shared'] == pytest.approx(200 / 3, abs=0.01)


def test_domain_transfer_metric_checks_its_datasets():
    with pytest.raises(ValueError, match='between nuImages and Cityscapes'):
        DomainTransferIoUMetric(source='nuimages', target='nuimages')
    metric = DomainTransferIoUMetric(source='cityscapes', target='nuimages')
    with pytest.raises(ValueError, match='nuimages classes'):
        metric.dataset_meta = dict(classes=CITYSCAPES_CLASSES)


def test_converter_refuses_labels_of_another_class_set(tmp_path):
    from s3pt_mm.converters.nuimages_seg import _check_class_record

    record = tmp_path / 'classes.txt'
    with pytest.raises(ValueError, match=f'{record}: 5 existing labels were written with no class record'):
        _check_class_record(str(record), kept=5)  # labels of the former converter, ego vehicle at 255
    _check_class_record(str(record), kept=0)
    assert record.read_text().splitlines() == list(NUIMAGES_SEG_CLASSES)
    _check_class_record(str(record), kept=5)  # same classes: kept
    record.write_text(''.join(c + '\n' for c in NUIMAGES_SEG_CLASSES_12))
    with pytest.raises(ValueError, match='--overwrite'):
        _check_class_record(str(record), kept=1)
