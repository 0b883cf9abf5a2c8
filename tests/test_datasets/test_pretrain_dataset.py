"""NuScenesPretrainDataset: info file -> full pre-training pipeline -> collate -> SelfSupDataPreprocessor
(-> the S3PT model)."""

import cv2
import mmengine
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS, MODELS

import s3pt_mm.datasets  # noqa: F401  (registers the dataset and transforms)
import s3pt_mm.models  # noqa: F401
from tests.helpers import ROOT

H, W, DEPTH_SCALE = 450, 800, 256.0  # half-size nuScenes images; the converter's depth scale
MARK = dict(x0=320, y0=160, side=120, depth=7.5)
BACKGROUND_DEPTH = 30.0
SKY_ROWS = 100  # no LiDAR depth above this row (depth 0)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')


def write_image_and_depth(root, index):
    """A camera image with a red square and its half-resolution 16-bit depth PNG (as the converter
    writes them with depth_downsample=2)."""
    rng = np.random.default_rng(index)
    img = rng.integers(0, 100, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), BACKGROUND_DEPTH, np.float32)
    depth[:SKY_ROWS] = 0
    rows = slice(MARK['y0'], MARK['y0'] + MARK['side'])
    cols = slice(MARK['x0'], MARK['x0'] + MARK['side'])
    img[rows, cols] = (0, 0, 255)
    depth[rows, cols] = MARK['depth']
    cv2.imwrite(str(root / 'samples' / 'CAM_FRONT' / f'{index}.jpg'), img)
    cv2.imwrite(str(root / 'depth' / 'CAM_FRONT' / f'{index}.png'),
                np.round(depth[::2, ::2] * DEPTH_SCALE).astype(np.uint16))


def entry(index):
    return dict(img_path=f'samples/CAM_FRONT/{index}.jpg', depth_path=f'depth/CAM_FRONT/{index}.png',
                cam='CAM_FRONT', sample_token=f's{index}', sample_data_token=f'sd{index}',
                timestamp=1533151603512404 + index, height=H, width=W)


def write_infos(root, name, data_list):
    mmengine.dump(dict(metainfo=dict(dataset='nuscenes', version='v1.0-test', depth_scale=DEPTH_SCALE),
                       data_list=data_list), str(root / name))
    return name


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('nuscenes')
    (root / 'samples' / 'CAM_FRONT').mkdir(parents=True)
    (root / 'depth' / 'CAM_FRONT').mkdir(parents=True)
    for i in range(4):
        write_image_and_depth(root, i)
    write_infos(root, 'infos.pkl', [entry(i) for i in range(4)])
    write_infos(root, 'infos.json', [entry(i) for i in range(4)])
    return root


def pretrain_pipeline():
    """The two-global-view pipeline of the S3PT nuScenes pre-training configs (224x224 views, depth maps)."""
    return Config.fromfile(str(ROOT / 'configs/pretrain/_base_/nuscenes_pretrain.py')).train_pipeline_with_depth


def build_dataset(data_root, ann_file='infos.pkl', pipeline=None, **kwargs):
    return DATASETS.build(dict(type='NuScenesPretrainDataset', data_root=str(data_root), ann_file=ann_file,
                               pipeline=pretrain_pipeline() if pipeline is None else pipeline, **kwargs))


@pytest.mark.parametrize('ann_file', ['infos.pkl', 'infos.json'])
def test_reads_pickle_and_json_infos(data_root, ann_file):
    dataset = build_dataset(data_root, ann_file, pipeline=[])
    assert len(dataset) == 4
    assert dataset.metainfo['depth_scale'] == DEPTH_SCALE and dataset.metainfo['version'] == 'v1.0-test'
    item = dataset[1]
    assert item['img_path'] == str(data_root / 'samples/CAM_FRONT/1.jpg')
    assert item['depth_path'] == str(data_root / 'depth/CAM_FRONT/1.png')
    assert item['depth_scale'] == DEPTH_SCALE and item['sample_data_token'] == 'sd1'


def test_data_prefix_is_joined_with_data_root(tmp_path):
    (tmp_path / 'images' / 'samples' / 'CAM_FRONT').mkdir(parents=True)
    write_infos(tmp_path, 'infos.pkl', [entry(0)])
    dataset = build_dataset(tmp_path, pipeline=[], data_prefix=dict(img_path='images', depth_path='d'))
    assert dataset[0]['img_path'] == str(tmp_path / 'images/samples/CAM_FRONT/0.jpg')
    assert dataset[0]['depth_path'] == str(tmp_path / 'd/depth/CAM_FRONT/0.png')


def test_full_pipeline_gives_two_224_views_with_packed_geometry(data_root):
    np.random.seed(0)
    dataset = build_dataset(data_root)
    item = dataset[0]
    inputs, sample = item['inputs'], item['data_samples']
    assert len(inputs) == 2
    assert all(v.shape == (3, 224, 224) and v.dtype == torch.uint8 for v in inputs)
    assert sample.token_positions.shape == (2, 196, 2) and sample.token_positions.dtype == torch.float32
    assert sample.token_depths.shape == (2, 196) and sample.token_depths.dtype == torch.float32
    assert sample.token_depth_valid.shape == (2, 196) and sample.token_depth_valid.dtype == torch.bool
    assert sample.img_path.endswith('samples/CAM_FRONT/0.jpg') and sample.sample_data_token == 'sd0'
    assert sample.ori_shape == (H, W) and sample.cam == 'CAM_FRONT'
    # positions in the original image; depths from the PNG only (nearest neighbour, median pooling)
    positions = sample.token_positions
    assert (positions[..., 0] > 0).all() and (positions[..., 0] < W).all()
    assert (positions[..., 1] > 0).all() and (positions[..., 1] < H).all()
    assert set(sample.token_depths.unique().tolist()) <= {0.0, MARK['depth'], BACKGROUND_DEPTH}
    assert not sample.token_depths[~sample.token_depth_valid].any()
    # tokens well inside the sky have no depth; tokens well below it have
    pitch = 16 * 800 / 224  # an upper bound of a token's extent in original pixels
    assert not sample.token_depth_valid[positions[..., 1] < SKY_ROWS - pitch].any()
    assert sample.token_depth_valid[positions[..., 1] > SKY_ROWS + pitch].all()


def test_batch_through_default_collate_and_selfsup_preprocessor(data_root):
    np.random.seed(1)
    dataset = build_dataset(data_root)
    items = [dataset[i] for i in range(3)]
    batch = default_collate(items)
    assert [tuple(v.shape) for v in batch['inputs']] == [(3, 3, 224, 224)] * 2
    assert len(batch['data_samples']) == 3
    preprocessor = MODELS.build(dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                     std=[58.395, 57.12, 57.375], to_rgb=True))
    data = preprocessor(batch, training=True)
    views = data['inputs']
    assert len(views) == 2 and all(v.shape == (3, 3, 224, 224) and v.dtype == torch.float32 for v in views)
    # BGR uint8 -> normalised RGB
    expected_red = (items[2]['inputs'][1][2].float() - 123.675) / 58.395
    torch.testing.assert_close(views[1][2, 0], expected_red)
    assert data['data_samples'][2].token_positions.shape == (2, 196, 2)


def test_demo_model_trains_on_a_batch_of_the_dataset(data_root):
    """The demo S3PT config (96x96 views) takes a collated, preprocessed batch and returns finite
    losses, the object-level ones included (they use the token geometry)."""
    np.random.seed(2)
    cfg = Config.fromfile(str(ROOT / 'configs/demo/s3pt_vit-demo_synthetic.py'))
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(data_root),
                                  ann_file='infos.pkl'))
    batch = default_collate([dataset[i] for i in range(2)])
    assert batch['data_samples'][0].token_positions.shape == (2, 36, 2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.set_epoch(0)  # what ModelEpochHook does in a Runner
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert {'loss_global', 'loss_object_cv'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_without_depth_maps_tokens_have_no_depth(data_root, tmp_path):
    pipeline = [p for p in pretrain_pipeline() if p['type'] != 'LoadDepthFromFile']
    data_list = [dict(entry(0), img_path=str(data_root / 'samples/CAM_FRONT/0.jpg'), depth_path=None)]
    write_infos(tmp_path, 'infos.pkl', data_list)
    sample = build_dataset(tmp_path, pipeline=pipeline)[0]['data_samples']
    assert not sample.token_depth_valid.any() and sample.token_positions.shape == (2, 196, 2)


def test_errors_name_the_file_entry_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.pkl.*create_data'):
        build_dataset(tmp_path, 'nope.pkl')
    write_infos(tmp_path, 'no_cam.pkl', [entry(0), {k: v for k, v in entry(1).items() if k != 'cam'}])
    with pytest.raises(KeyError, match=r"no_cam\.pkl: entry 1 lacks the key\(s\) \['cam'\]"):
        build_dataset(tmp_path, 'no_cam.pkl')
    write_infos(tmp_path, 'no_depth.json', [entry(0), entry(1), dict(entry(2), depth_path=None)])
    with pytest.raises(ValueError, match=r'no_depth\.json: entry 2 .*depth_path None.*LoadDepthFromFile'):
        build_dataset(tmp_path, 'no_depth.json')
    write_infos(tmp_path, 'empty.pkl', [])
    with pytest.raises(ValueError, match='empty'):
        build_dataset(tmp_path, 'empty.pkl')
    mmengine.dump([entry(0)], str(tmp_path / 'list.pkl'))
    with pytest.raises(ValueError, match="'data_list'"):
        build_dataset(tmp_path, 'list.pkl')
