"""The synthetic nuScenes / nuImages data must be genuine: the official devkits load and evaluate it."""
import contextlib
import hashlib
import importlib.util
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

nuscenes = pytest.importorskip('nuscenes')
from nuimages import NuImages  # noqa: E402
from nuscenes import NuScenes  # noqa: E402
from nuscenes.eval.common.config import config_factory  # noqa: E402
from nuscenes.eval.detection.evaluate import DetectionEval  # noqa: E402
from nuscenes.eval.detection.utils import category_to_detection_name, detection_name_to_rel_attributes  # noqa: E402
from nuscenes.utils.data_classes import LidarPointCloud  # noqa: E402
from nuscenes.utils.geometry_utils import BoxVisibility, points_in_box, view_points  # noqa: E402
from nuscenes.utils.splits import mini_train, mini_val  # noqa: E402

from s3pt_mm import synthetic  # noqa: E402
from s3pt_mm.synthetic.raycast import cast_rays  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

TINY = dict(num_scenes=1, samples_per_scene=2, image_size=(18, 32), lidar_azimuth_step=2.0, objects_per_scene=6)
TOKEN = re.compile(r'^[0-9a-f]{32}$')


@pytest.fixture(scope='module')
def nusc(synthetic_data_root):
    return NuScenes(version='v1.0-mini', dataroot=str(synthetic_data_root / 'nuscenes'), verbose=False)


@pytest.fixture(scope='module')
def config(synthetic_data_root):
    return synthetic.load_config(synthetic_data_root)


def _tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_nuscenes_tables_are_complete_and_linked(nusc, config):
    from nuscenes.tests.assert_download import verify_setup
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        verify_setup(nusc)  # Every sample_data and map file exists.
    n_samples = config.num_scenes * config.samples_per_scene
    assert len(nusc.scene) == config.num_scenes and len(nusc.sample) == n_samples
    assert len(nusc.sample_data) == len(nusc.ego_pose) == 7 * n_samples
    assert len(nusc.calibrated_sensor) == 7 * config.num_scenes and len(nusc.sensor) == 7
    assert len(nusc.sample_annotation) == sum(i['nbr_annotations'] for i in nusc.instance) > 0
    names = [s['name'] for s in nusc.scene]
    assert set(names) <= set(mini_train + mini_val) and set(names) & set(mini_val)
    for table in nusc.table_names:
        if table != 'visibility':
            assert all(TOKEN.match(r['token']) for r in getattr(nusc, table)), table
    assert {v['token'] for v in nusc.visibility} == {'1', '2', '3', '4'}
    for scene in nusc.scene:
        sample = nusc.get('sample', scene['first_sample_token'])
        timestamps = [sample['timestamp']]
        while sample['next']:
            assert nusc.get('sample', sample['next'])['prev'] == sample['token']
            sample = nusc.get('sample', sample['next'])
            timestamps.append(sample['timestamp'])
        assert sample['token'] == scene['last_sample_token'] and len(timestamps) == scene['nbr_samples']
        assert np.allclose(np.diff(timestamps), 500_000)
    for sample in nusc.sample:
        assert len(sample['data']) == 7
        for sd_token in sample['data'].values():
            sd = nusc.get('sample_data', sd_token)
            assert sd['timestamp'] == sample['timestamp'] and sd['is_key_frame']
            assert not sd['next'] or nusc.get('sample_data', sd['next'])['prev'] == sd_token
    for ann in nusc.sample_annotation:
        detection_name = category_to_detection_name(ann['category_name'])
        attributes = [nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']]
        relevant = detection_name_to_rel_attributes(detection_name)
        assert set(attributes) <= set(relevant) and len(attributes) == (1 if relevant else 0)
        assert np.isclose(np.linalg.norm(ann['rotation']), 1.0) and min(ann['size']) > 0
    for instance in nusc.instance:
        ann = nusc.get('sample_annotation', instance['first_annotation_token'])
        count = 1
        while ann['next']:
            ann = nusc.get('sample_annotation', ann['next'])
            count += 1
        assert ann['token'] == instance['last_annotation_token'] and count == instance['nbr_annotations']


def test_lidar_files_and_point_counts(nusc):
    for sample in nusc.sample:
        path, boxes, _ = nusc.get_sample_data(sample['data']['LIDAR_TOP'])
        raw = np.fromfile(path, dtype=np.float32).reshape(-1, 5)
        assert len(raw) > 1000 and set(np.unique(raw[:, 4])) <= set(range(32))
        assert raw[:, 3].min() >= 0 and raw[:, 3].max() <= 255
        cloud = LidarPointCloud.from_file(path)
        assert cloud.points.shape == (4, len(raw))
        for box in boxes:  # Boxes come in the LiDAR frame, like the points.
            expected = nusc.get('sample_annotation', box.token)['num_lidar_pts']
            assert points_in_box(box, cloud.points[:3]).sum() == expected
        assert sum(nusc.get('sample_annotation', a)['num_lidar_pts'] > 0 for a in sample['anns']) >= 10


def _covers_image(box, intrinsic, width, height) -> bool:
    """Whether a box with no corner inside the image still covers part of it: its corners in front of the
    camera project around the image (a large object right next to the camera)."""
    corners = box.corners()
    front = corners[:, corners[2] > 0.1]
    if front.shape[1] == 0:
        return False
    u, v = view_points(front, intrinsic, normalize=True)[:2]
    return u.min() < width and u.max() > 0 and v.min() < height and v.max() > 0


def test_camera_sample_data_images_and_boxes(nusc):
    for sample in nusc.sample:
        in_cameras = set()
        for channel, sd_token in sample['data'].items():
            if channel == 'LIDAR_TOP':
                continue
            sd = nusc.get('sample_data', sd_token)
            path, boxes, intrinsic = nusc.get_sample_data(sd_token)
            assert cv2.imread(path).shape == (sd['height'], sd['width'], 3)
            assert sd['filename'].startswith(f'samples/{channel}/') and 0 < intrinsic[0, 2] < sd['width']
            in_cameras |= {box.token for box in boxes}
            # The devkit's "any corner in the image" test misses objects so close that every corner is
            # outside the image; those still cover it.
            _, all_boxes, _ = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.NONE)
            in_cameras |= {box.token for box in all_boxes if _covers_image(box, intrinsic, sd['width'], sd['height'])}
        # Objects the renderer saw as >= 60 % visible are in the view of some camera for the devkit too.
        mostly_visible = {a for a in sample['anns']
                          if nusc.get('sample_annotation', a)['visibility_token'] in ('3', '4')}
        assert mostly_visible and mostly_visible <= in_cameras


def test_camera_and_lidar_are_geometrically_consistent(nusc, config):
    """LiDAR returns projected into a camera by the devkit lie on the surfaces the camera rendered."""
    plans = {plan.name: plan for plan in synthetic.plan_nuscenes(config)}
    for scene in nusc.scene:
        plan = plans[scene['name']]
        sample = nusc.get('sample', scene['first_sample_token'])
        for camera in plan.cameras:
            points, depth, _ = nusc.explorer.map_pointcloud_to_image(sample['data']['LIDAR_TOP'],
                                                                     sample['data'][camera.channel])
            k = camera.intrinsic
            rays = np.stack([(points[0] - k[0, 2]) / k[0, 0], (points[1] - k[1, 2]) / k[1, 1],
                             np.ones(points.shape[1])], axis=1)
            rays /= np.linalg.norm(rays, axis=1, keepdims=True)
            pose = plan.world.ego_pose(0.0) @ camera.ego_from_sensor
            hits = cast_rays(plan.world.render_groups(0.0), pose.translation, rays @ pose.rotation.T)
            error = np.abs(hits.distance * rays[:, 2] - depth)
            # A few returns are hidden from the camera by parallax (LiDAR and camera sit apart).
            assert len(depth) > 500 and np.mean(error < 0.02) > 0.85, camera.channel
            frame = synthetic.render_camera(plan.world, 0.0, camera)
            on_disk = cv2.imread(nusc.get_sample_data_path(sample['data'][camera.channel]))[..., ::-1]
            # The JPEG (quality 85) of that very frame: sensor noise and textures cost a few grey levels.
            assert np.mean(np.abs(on_disk.astype(float) - frame.image)) < 8.0


def test_nuimages_loads_and_segmentation_matches_renderer(synthetic_data_root, config):
    dataroot = str(synthetic_data_root / 'nuimages')
    per_version = {v: NuImages(version=v, dataroot=dataroot, lazy=False) for v in ('v1.0-train', 'v1.0-val')}
    nuim = NuImages(version='v1.0-mini', dataroot=dataroot)
    assert len(nuim.sample) == config.num_scenes * 6 * config.samples_per_scene
    assert sum(len(n.sample) for n in per_version.values()) == len(nuim.sample)
    assert all(len(n.object_ann) > 0 for n in per_version.values())
    from nuimages.tests.test_attributes import TestAttributes
    from nuimages.tests.test_foreign_keys import TestForeignKeys
    with contextlib.redirect_stdout(io.StringIO()):
        keys = TestForeignKeys(version='v1.0-mini', dataroot=dataroot)
        keys.test_foreign_keys()
        keys.test_prev_next()
        TestAttributes(version='v1.0-mini', dataroot=dataroot).test_object_anns()
    classes = set()
    for plan in synthetic.plan_nuimages(config):
        for k, t in enumerate(plan.times):
            sd_token = synthetic.sample_data_token(config.seed, plan, k)
            frame = synthetic.render_camera(plan.world, t, plan.shot_camera(k))
            semantic, instance = nuim.get_segmentation(sd_token)
            np.testing.assert_array_equal(semantic, synthetic.semantic_map(frame, plan.world))
            pairs = set(zip(instance.ravel().tolist(), frame.owner.ravel().tolist()))
            assert len(pairs) == len(np.unique(instance)) == len(np.unique(frame.owner))  # Same partition.
            classes |= set(np.unique(semantic).tolist())
    assert {0, 24} < classes and len(classes) >= 8
    for ann in nuim.object_ann:  # The amodal box contains the visible mask.
        sd = nuim.get('sample_data', ann['sample_data_token'])
        mask = _decode(ann['mask'])
        rows, cols = np.nonzero(mask)
        xmin, ymin, xmax, ymax = ann['bbox']
        assert mask.shape == (sd['height'], sd['width'])
        assert xmin <= cols.min() and cols.max() < xmax <= sd['width'] and ymin <= rows.min() and rows.max() < ymax


def _decode(mask: dict) -> np.ndarray:
    from nuimages.utils.utils import mask_decode
    return mask_decode(mask)


def _results_from_ground_truth(nusc, noise: float, rng: np.random.Generator) -> dict:
    results = {}
    for sample in nusc.sample:
        if nusc.get('scene', sample['scene_token'])['name'] not in mini_val:
            continue
        boxes = []
        for token in sample['anns']:
            ann = nusc.get('sample_annotation', token)
            if ann['num_lidar_pts'] + ann['num_radar_pts'] == 0:  # The evaluation ignores those GT boxes.
                continue
            attributes = [nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']]
            translation = np.array(ann['translation']) + rng.normal(0.0, noise, 3) * [1, 1, 0]
            boxes.append({
                'sample_token': sample['token'], 'translation': translation.tolist(), 'size': ann['size'],
                'rotation': ann['rotation'], 'velocity': nusc.box_velocity(token)[:2].tolist(),
                'detection_name': category_to_detection_name(ann['category_name']),
                'detection_score': float(rng.uniform(0.5, 1.0)), 'attribute_name': attributes[0] if attributes else ''})
        results[sample['token']] = boxes
    return results


@pytest.mark.parametrize('noise', [0.0, 0.6])
def test_official_detection_eval_runs(nusc, tmp_path, noise):
    results = _results_from_ground_truth(nusc, noise, np.random.default_rng(0))
    meta = {'use_camera': True, 'use_lidar': False, 'use_radar': False, 'use_map': False, 'use_external': False}
    result_path = tmp_path / 'results.json'
    result_path.write_text(json.dumps({'meta': meta, 'results': results}))
    evaluation = DetectionEval(nusc, config_factory('detection_cvpr_2019'), str(result_path), 'mini_val',
                               str(tmp_path / 'eval'), verbose=False)
    metrics, _ = evaluation.evaluate()
    assert np.isfinite(metrics.mean_ap) and np.isfinite(metrics.nd_score)
    if noise == 0.0:  # Every detection class is present, so perfect predictions score ~1.
        assert metrics.mean_ap > 0.9 and metrics.nd_score > 0.9
    else:
        assert 0.0 < metrics.mean_ap < 0.99 and metrics.tp_errors['trans_err'] > 0.1


def test_same_seed_same_bytes_other_seed_other_world(tmp_path):
    for name, seed in (('a', 7), ('b', 7), ('c', 8)):
        synthetic.generate_synthetic_dataset(tmp_path / name, seed=seed, **TINY)
    first, second, other = (_tree_digest(tmp_path / name) for name in 'abc')
    assert first == second
    annotations = [json.loads((tmp_path / name / 'nuscenes/v1.0-mini/sample_annotation.json').read_text())
                   for name in 'ac']
    assert [a['translation'] for a in annotations[0]] != [a['translation'] for a in annotations[1]]
    assert first.keys() != other.keys()  # Log names (and so file names) depend on the seed too.


def _cli():
    spec = importlib.util.spec_from_file_location('make_synthetic_data', ROOT / 'tools' / 'make_synthetic_data.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_refuses_existing_output_and_overwrites_on_request(tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('precious')
    tiny = ['--scenes', '1', '--samples-per-scene', '1', '--image-size', '18', '32', '--lidar-azimuth-step', '2']
    assert _cli().main([str(out)] + tiny) == 2
    message = capsys.readouterr().err
    assert 'not empty' in message and '--overwrite' in message
    assert [p.name for p in out.iterdir()] == ['keep.txt']
    assert _cli().main([str(out), '--overwrite', '--preview', str(tmp_path / 'preview.png')] + tiny) == 0
    assert sorted(p.name for p in out.iterdir()) == ['nuimages', 'nuscenes', 'synthetic_config.json']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'preview.png']  # No partial or replaced copies.
    # The preview shows the dataset's own front-camera JPEGs of the first key frame (1 scene, 3 cameras).
    picture = cv2.imread(str(tmp_path / 'preview.png'))
    nusc = NuScenes(version='v1.0-mini', dataroot=str(out / 'nuscenes'), verbose=False)
    sample = nusc.sample[0]
    front = cv2.imread(nusc.get_sample_data_path(sample['data']['CAM_FRONT']))
    assert picture.shape == (18, 3 * 32, 3)
    assert np.abs(picture[:, 32:64].astype(float) - front).mean() < 10


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError('disk full')

    monkeypatch.setattr('s3pt_mm.synthetic.generate.write_nuimages', fail)
    with pytest.raises(RuntimeError, match='disk full'):
        synthetic.generate_synthetic_dataset(tmp_path / 'out', **TINY)
    assert list(tmp_path.iterdir()) == []


def test_more_than_ten_scenes_are_a_trainval_dataset_split_like_the_real_one(tmp_path):
    """Beyond the 10 mini scenes the generator writes v1.0-trainval, named after official train / val scenes:
    the devkit loads it and the pre-training converter splits it by the devkit's own split lists."""
    from nuscenes.utils.splits import create_splits_scenes

    from s3pt_mm.converters.nuscenes_pretrain import build_jobs
    config = synthetic.generate_synthetic_dataset(tmp_path / 'data', **dict(TINY, num_scenes=12, samples_per_scene=1,
                                                                            objects_per_scene=1))
    assert config.nuscenes_version == 'v1.0-trainval'
    assert sorted(p.name for p in (tmp_path / 'data/nuscenes').iterdir()) == ['maps', 'samples', 'v1.0-trainval']
    nusc = NuScenes(version='v1.0-trainval', dataroot=str(tmp_path / 'data/nuscenes'), verbose=False)
    names = [scene['name'] for scene in nusc.scene]
    splits = create_splits_scenes()
    assert len(set(names)) == 12
    assert [name for name in names if name in splits['val']] == [names[1], names[6], names[11]]
    assert all(name in splits['train'] for i, name in enumerate(names) if i not in (1, 6, 11))
    # Every location has a map whose logs are exactly its scenes' logs.
    logs_by_map = sorted(sorted(m['log_tokens']) for m in nusc.map)
    assert logs_by_map == sorted(sorted(log['token'] for log in nusc.log if log['location'] == location)
                                 for location in {log['location'] for log in nusc.log})
    jobs = build_jobs(nusc, 'v1.0-trainval', str(tmp_path / 'out'), 1)
    assert [job['split'] for job in jobs].count('val') == 3 * 6 and len(jobs) == 12 * 6
    # Up to 10 scenes stay a v1.0-mini dataset; past the map budget the error names the limit.
    assert synthetic.SyntheticConfig(num_scenes=10).nuscenes_version == 'v1.0-mini'
    with pytest.raises(ValueError, match=r'num_scenes must be in \[1, 64\].*got 65'):
        synthetic.SyntheticConfig(num_scenes=65)
