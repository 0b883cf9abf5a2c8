"""Depth-aware multi-view transforms: image, depth and token positions stay aligned."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmpretrain.registry import MODELS, TRANSFORMS

import s3pt_mm.datasets  # noqa: F401
from mmengine.registry import init_default_scope

init_default_scope('mmpretrain')

H, W, PATCH, SIZE = 180, 320, 16, 96
MARK = dict(x0=200, y0=60, side=60, depth=7.5, colour=(0, 0, 255))  # BGR red square, 7.5 m
BACKGROUND_DEPTH = 30.0


def marked_sample():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 120, (H, W, 3), dtype=np.uint8)  # dark noise: never pure red
    depth = np.full((H, W), BACKGROUND_DEPTH, np.float32)
    ys, xs = slice(MARK['y0'], MARK['y0'] + MARK['side']), slice(MARK['x0'], MARK['x0'] + MARK['side'])
    img[ys, xs] = MARK['colour']
    depth[ys, xs] = MARK['depth']
    return dict(img=img, depth=depth, img_shape=(H, W), ori_shape=(H, W))


def geometry_pipeline(flip_prob):
    return Compose([
        dict(type='RandomResizedCropWithDepth', size=SIZE, scale=(0.3, 1.0)),
        dict(type='RandomFlipWithDepth', prob=flip_prob),
        dict(type='TokenGeometry', patch_size=PATCH),
    ])


def inside_mark(pos, margin):
    x, y = pos[..., 0], pos[..., 1]
    return ((x > MARK['x0'] + margin) & (x < MARK['x0'] + MARK['side'] - margin) &
            (y > MARK['y0'] + margin) & (y < MARK['y0'] + MARK['side'] - margin))


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
@pytest.mark.parametrize('seed', range(6))
def test_marked_region_lands_in_the_right_tokens(seed, flip_prob):
    np.random.seed(seed)
    out = geometry_pipeline(flip_prob)(marked_sample())
    pos, depth, valid = out['token_positions'], out['token_depths'], out['token_depth_valid']
    assert pos.shape == ((SIZE // PATCH) ** 2, 2) and valid.all()
    # tokens whose whole patch lies inside (outside) the mark: half a token pitch of margin
    pitch = np.abs(pos[1] - pos[0]).max()  # original pixels between neighbouring tokens
    margin = pitch / 2 + 1
    inside, outside = inside_mark(pos, margin), ~inside_mark(pos, -margin)
    np.testing.assert_array_equal(depth[inside], MARK['depth'])
    np.testing.assert_array_equal(depth[outside], BACKGROUND_DEPTH)
    # the view's pixel at each inside token's centre is the mark's colour
    rows, cols = np.divmod(np.flatnonzero(inside), SIZE // PATCH)
    centre = out['img'][rows * PATCH + PATCH // 2, cols * PATCH + PATCH // 2]
    assert (np.abs(centre.astype(int) - MARK['colour']) < 40).all()
    # depth values are never interpolated
    assert set(np.unique(out['depth'])) <= {MARK['depth'], BACKGROUND_DEPTH}


def test_flip_mirrors_token_positions():
    np.random.seed(3)
    plain = geometry_pipeline(0.0)(marked_sample())
    np.random.seed(3)
    flipped = geometry_pipeline(1.0)(marked_sample())
    n = SIZE // PATCH
    a = plain['token_positions'].reshape(n, n, 2)
    b = flipped['token_positions'].reshape(n, n, 2)
    np.testing.assert_allclose(b, a[:, ::-1], atol=1e-4)
    np.testing.assert_array_equal(flipped['img'], plain['img'][:, ::-1])
    np.testing.assert_array_equal(flipped['token_depths'].reshape(n, n),
                                  plain['token_depths'].reshape(n, n)[:, ::-1])


def test_full_crop_maps_tokens_to_patch_centres():
    """A crop of the whole image (scale 1, ratio of the image) maps token centres by the resize factor."""
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type='RandomResizedCropWithDepth', size=SIZE, scale=(1.0, 1.0),
                              ratio=(W / H, W / H)))
    out = TRANSFORMS.build(dict(type='TokenGeometry', patch_size=PATCH))(t(marked_sample()))
    n = SIZE // PATCH
    pos = out['token_positions'].reshape(n, n, 2)
    np.testing.assert_allclose(pos[0, 0], [8 * W / SIZE, 8 * H / SIZE], rtol=1e-6)
    np.testing.assert_allclose(pos[-1, -1], [W - 8 * W / SIZE, H - 8 * H / SIZE], rtol=1e-6)


def test_photometric_transforms_leave_depth_alone():
    np.random.seed(0)
    sample = marked_sample()
    depth = sample['depth'].copy()
    pipeline = Compose([
        dict(type='RandomApply', prob=1.0, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=1.0, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
        dict(type='Solarize', thr=128, prob=1.0),
    ])
    out = pipeline(sample)
    np.testing.assert_array_equal(out['depth'], depth)
    assert not np.array_equal(out['img'], marked_sample()['img'])


def test_token_depth_is_a_robust_median_with_validity():
    t = TRANSFORMS.build(dict(type='TokenGeometry', patch_size=4, min_valid_fraction=0.25))
    depth = np.zeros((4, 8), np.float32)
    depth[:, :4] = 10.0
    depth[0, 0] = 90.0  # an outlier: the median ignores it
    depth[0, 4:6] = 5.0  # 2 of 16 pixels valid: below 25 %, so no depth
    out = t(dict(img=np.zeros((4, 8, 3), np.uint8), depth=depth))
    np.testing.assert_array_equal(out['token_depths'], [10.0, 0.0])
    np.testing.assert_array_equal(out['token_depth_valid'], [True, False])
    no_depth = t(dict(img=np.zeros((4, 8, 3), np.uint8)))
    assert not no_depth['token_depth_valid'].any()


def write_depth_png(path, depth, scale=256.0):
    cv2.imwrite(str(path), np.round(depth * scale).astype(np.uint16))


def test_load_depth_upsamples_by_integer_factor_and_rejects_bad_files(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadDepthFromFile'))
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_depth_png(tmp_path / 'd.png', depth)
    out = load(dict(depth_path=str(tmp_path / 'd.png'), depth_scale=256.0, img_shape=(6, 8)))
    np.testing.assert_array_equal(out['depth'], np.repeat(np.repeat(depth, 2, 0), 2, 1))
    with pytest.raises(ValueError, match='integer factor'):
        load(dict(depth_path=str(tmp_path / 'd.png'), depth_scale=256.0, img_shape=(5, 8)))
    cv2.imwrite(str(tmp_path / 'rgb.png'), np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='16-bit'):
        load(dict(depth_path=str(tmp_path / 'rgb.png'), depth_scale=256.0, img_shape=(3, 4)))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load(dict(depth_path=str(tmp_path / 'missing.png'), depth_scale=256.0, img_shape=(3, 4)))
    (tmp_path / 'junk.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='junk.png'):
        load(dict(depth_path=str(tmp_path / 'junk.png'), depth_scale=256.0, img_shape=(3, 4)))
    with pytest.raises(KeyError, match='depth_path'):
        load(dict(img_path='x.jpg', depth_path=None, depth_scale=256.0, img_shape=(3, 4)))


def make_info_file(root, n=4):
    """A tiny dataset in the create_data.py layout: marked images with half-resolution depth PNGs."""
    import mmengine
    (root / 'samples' / 'CAM_FRONT').mkdir(parents=True)
    (root / 'depth' / 'CAM_FRONT').mkdir(parents=True)
    data_list = []
    for i in range(n):
        sample = marked_sample()
        cv2.imwrite(str(root / 'samples' / 'CAM_FRONT' / f'{i}.jpg'), sample['img'])
        write_depth_png(root / 'depth' / 'CAM_FRONT' / f'{i}.png', sample['depth'][::2, ::2])
        data_list.append(dict(img_path=f'samples/CAM_FRONT/{i}.jpg', depth_path=f'depth/CAM_FRONT/{i}.png',
                              cam='CAM_FRONT', sample_token=f's{i}', sample_data_token=f'sd{i}',
                              timestamp=i, height=H, width=W))
    mmengine.dump(dict(metainfo=dict(dataset='nuscenes', version='synthetic', depth_scale=256.0),
                       data_list=data_list), str(root / 'infos.pkl'))
    return root / 'infos.pkl'


def test_dataset_pipeline_collate_preprocessor_and_model(tmp_path):
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile('configs/demo/s3pt_vit-demo_synthetic.py')
    info = make_info_file(tmp_path)
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(tmp_path),
                                  ann_file='infos.pkl'))
    assert len(dataset) == 4 and dataset.metainfo['depth_scale'] == 256.0
    items = [dataset[i] for i in range(2)]
    inputs = items[0]['inputs']
    assert len(inputs) == 2 and inputs[0].shape == (3, 96, 96) and inputs[0].dtype == torch.uint8
    sample = items[0]['data_samples']
    assert sample.token_positions.shape == (2, 36, 2) and sample.token_depths.shape == (2, 36)
    assert set(sample.token_depths.unique().tolist()) <= {0.0, MARK['depth'], BACKGROUND_DEPTH}
    assert sample.img_path.endswith('0.jpg')

    batch = default_collate(items)
    model = MODELS.build(cfg.model)
    model.init_weights()
    data = model.data_preprocessor(batch, training=True)
    assert data['inputs'][0].shape == (2, 3, 96, 96)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())

    with pytest.raises(FileNotFoundError, match='create_data'):
        DATASETS.build(dict(type='NuScenesPretrainDataset', data_root=str(tmp_path), ann_file='nope.pkl'))
    del info
