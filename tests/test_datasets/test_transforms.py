"""Depth-aware multi-view transforms: image, depth map and token geometry stay aligned; the view resize
equals torchvision's on PIL images (DINO's and CrIBo's loaders)."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from mmpretrain.registry import TRANSFORMS
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

import s3pt_mm.datasets  # noqa: F401  (registers the transforms)
from s3pt_mm.datasets.transforms.depth_crops import RandomResizedCropWithDepth

H, W, PATCH, SIZE = 450, 800, 16, 224  # half a nuScenes image, the global crops of Tables 5-7
N_SIDE = SIZE // PATCH
MARK = dict(x0=320, y0=160, side=120, depth=7.5, colour=(0, 0, 255))  # BGR red square at 7.5 m
BACKGROUND_DEPTH = 30.0


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    init_default_scope('mmpretrain')


def marked_sample():
    """Dark noise at 30 m with a red square at 7.5 m (original image coordinates in MARK)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 100, (H, W, 3), dtype=np.uint8)  # never close to pure red
    depth = np.full((H, W), BACKGROUND_DEPTH, np.float32)
    rows = slice(MARK['y0'], MARK['y0'] + MARK['side'])
    cols = slice(MARK['x0'], MARK['x0'] + MARK['side'])
    img[rows, cols] = MARK['colour']
    depth[rows, cols] = MARK['depth']
    return dict(img=img, depth=depth, img_shape=(H, W), ori_shape=(H, W))


def pixel_index_sample():
    """Depth = 1 + the pixel's flat index in the original image: every view pixel says where it came
    from (exact in float32 for H * W < 2**24)."""
    depth = (np.arange(H * W, dtype=np.float32) + 1).reshape(H, W)
    return dict(img=np.zeros((H, W, 3), np.uint8), depth=depth, img_shape=(H, W), ori_shape=(H, W))


def geometry_pipeline(flip_prob, scale=(0.25, 1.0)):
    return Compose([
        dict(type='RandomResizedCropWithDepth', size=SIZE, scale=scale),
        dict(type='RandomFlipWithDepth', prob=flip_prob),
        dict(type='TokenGeometry', patch_size=PATCH),
    ])


def is_red(pixels):
    return (np.abs(pixels.astype(int) - MARK['colour']) < 60).all(axis=-1)


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
def test_marked_region_lands_in_the_token_nearest_to_its_original_position(flip_prob):
    mark_centre = np.array([MARK['x0'], MARK['y0']]) + MARK['side'] / 2
    checked = 0
    for seed in range(12):
        np.random.seed(seed)
        out = geometry_pipeline(flip_prob)(marked_sample())
        red = is_red(out['img'])
        rows, cols = np.nonzero(red)
        if not red.any() or rows.min() == 0 or cols.min() == 0 or rows.max() == SIZE - 1 \
                or cols.max() == SIZE - 1:
            continue  # the crop cuts the mark: its centre in the view is unknown
        checked += 1
        # the view token holding the mark's centre, found from the image alone ...
        seen = (int(rows.mean()) // PATCH) * N_SIDE + int(cols.mean()) // PATCH
        # ... is the token whose recorded position is nearest to the mark's original centre
        nearest = np.argmin(np.linalg.norm(out['token_positions'] - mark_centre, axis=1))
        assert nearest == seen
        assert out['token_depth_valid'][nearest] and out['token_depths'][nearest] == MARK['depth']
        # all tokens: depth of the mark where the patch is all mark, background where it has none
        patches = red.reshape(N_SIDE, PATCH, N_SIDE, PATCH).transpose(0, 2, 1, 3).reshape(-1, PATCH ** 2)
        np.testing.assert_array_equal(out['token_depths'][patches.all(axis=1)], MARK['depth'])
        np.testing.assert_array_equal(out['token_depths'][~patches.any(axis=1)], BACKGROUND_DEPTH)
        assert set(np.unique(out['depth'])) <= {MARK['depth'], BACKGROUND_DEPTH}  # never interpolated
    assert checked >= 3


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
@pytest.mark.parametrize('seed', range(4))
def test_every_view_pixel_maps_back_to_its_source_pixel(seed, flip_prob):
    """view_to_orig inverts crop, resize and flip: the depth map (nearest neighbour) of the view holds,
    at every pixel, the value of the original pixel that the recorded map points to."""
    np.random.seed(seed)
    out = geometry_pipeline(flip_prob)(pixel_index_sample())
    source = out['depth'].astype(np.int64) - 1
    v, u = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    x = out['view_to_orig'][0, 0] * u + out['view_to_orig'][0, 1] * v + out['view_to_orig'][0, 2]
    y = out['view_to_orig'][1, 0] * u + out['view_to_orig'][1, 1] * v + out['view_to_orig'][1, 2]
    on_boundary = (np.abs(x - np.round(x)) < 1e-6) | (np.abs(y - np.round(y)) < 1e-6)
    agree = (source // W == np.floor(y)) & (source % W == np.floor(x))
    assert (agree | on_boundary).all() and agree.mean() > 0.9


@pytest.mark.parametrize('flip_prob', [0.0, 1.0])
@pytest.mark.parametrize('seed', range(4))
def test_token_positions_are_the_centres_of_their_patches_in_the_original_image(seed, flip_prob):
    """Independently of view_to_orig: the mean source pixel of a token's patch is its position."""
    np.random.seed(seed)
    out = geometry_pipeline(flip_prob)(pixel_index_sample())
    source = (out['depth'].astype(np.int64) - 1).reshape(N_SIDE, PATCH, N_SIDE, PATCH)
    source = source.transpose(0, 2, 1, 3).reshape(-1, PATCH ** 2)
    centres = np.stack([(source % W).mean(1) + 0.5, (source // W).mean(1) + 0.5], axis=1)
    pitch = np.abs(np.diff(out['token_positions'].reshape(N_SIDE, N_SIDE, 2), axis=1)).max()
    view_pixel = pitch / PATCH  # one view pixel in original pixels
    np.testing.assert_allclose(out['token_positions'], centres, atol=view_pixel / 2 + 1e-3)
    assert out['token_positions'].dtype == np.float32 and out['token_positions'].shape == (N_SIDE ** 2, 2)


def test_flip_mirrors_token_positions_image_and_depth():
    np.random.seed(3)
    plain = geometry_pipeline(0.0)(marked_sample())
    np.random.seed(3)
    flipped = geometry_pipeline(1.0)(marked_sample())
    assert not plain['flip'] and flipped['flip']
    a = plain['token_positions'].reshape(N_SIDE, N_SIDE, 2)
    b = flipped['token_positions'].reshape(N_SIDE, N_SIDE, 2)
    np.testing.assert_allclose(b, a[:, ::-1], atol=1e-3)
    np.testing.assert_array_equal(flipped['img'], plain['img'][:, ::-1])
    np.testing.assert_array_equal(flipped['depth'], plain['depth'][:, ::-1])
    np.testing.assert_array_equal(flipped['token_depths'].reshape(N_SIDE, N_SIDE),
                                  plain['token_depths'].reshape(N_SIDE, N_SIDE)[:, ::-1])


def test_whole_image_crop_maps_tokens_by_the_resize_factor():
    np.random.seed(0)
    crop = TRANSFORMS.build(dict(type='RandomResizedCropWithDepth', size=SIZE, scale=(1.0, 1.0),
                                 ratio=(W / H, W / H)))
    out = TRANSFORMS.build(dict(type='TokenGeometry', patch_size=PATCH))(crop(marked_sample()))
    pos = out['token_positions'].reshape(N_SIDE, N_SIDE, 2)
    np.testing.assert_allclose(pos[0, 0], [8 * W / SIZE, 8 * H / SIZE], rtol=1e-6)
    np.testing.assert_allclose(pos[-1, -1], [W - 8 * W / SIZE, H - 8 * H / SIZE], rtol=1e-6)


def test_photometric_recipe_leaves_depth_identical():
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
    assert out['depth'] is sample['depth']
    np.testing.assert_array_equal(out['depth'], depth)
    assert not np.array_equal(out['img'], marked_sample()['img'])


def test_token_depth_is_a_lower_median_of_valid_pixels_with_validity():
    geometry = TRANSFORMS.build(dict(type='TokenGeometry', patch_size=4, min_valid_fraction=0.25))
    depth = np.zeros((4, 12), np.float32)
    depth[:, :4] = 10.0
    depth[0, 0] = 90.0  # an outlier: the median ignores it
    depth[0, 4:6] = 5.0  # 2 of 16 pixels valid: below 25 %, no depth
    depth[:2, 8:12], depth[2:, 8:12] = 4.0, 20.0  # a depth edge: one surface's depth, not 12 m
    out = geometry(dict(img=np.zeros((4, 12, 3), np.uint8), depth=depth))
    np.testing.assert_array_equal(out['token_depths'], [10.0, 0.0, 4.0])
    np.testing.assert_array_equal(out['token_depth_valid'], [True, False, True])
    assert out['token_depths'].dtype == np.float32 and out['token_depth_valid'].dtype == bool
    no_depth = geometry(dict(img=np.zeros((4, 12, 3), np.uint8)))
    assert not no_depth['token_depth_valid'].any() and not no_depth['token_depths'].any()
    with pytest.raises(ValueError, match='multiple of the patch size'):
        geometry(dict(img=np.zeros((5, 12, 3), np.uint8)))
    with pytest.raises(ValueError, match='differ in size'):
        geometry(dict(img=np.zeros((4, 12, 3), np.uint8), depth=np.zeros((4, 8), np.float32)))


def write_depth_png(path, depth, scale=256.0):
    cv2.imwrite(str(path), np.round(depth * scale).astype(np.uint16))


def test_load_depth_scales_and_upsamples_by_an_integer_factor(tmp_path):
    depth = np.array([[0.0, 1.5, 7.5, 80.0], [2.25, 0.0, 3.0, 255.5], [1.0, 2.0, 3.0, 4.0]], np.float32)
    write_depth_png(tmp_path / 'd.png', depth)
    out = TRANSFORMS.build(dict(type='LoadDepthFromFile'))(
        dict(depth_path=str(tmp_path / 'd.png'), depth_scale=256.0, img_shape=(6, 8)))
    assert out['depth'].dtype == np.float32
    np.testing.assert_array_equal(out['depth'], np.repeat(np.repeat(depth, 2, 0), 2, 1))
    same_size = TRANSFORMS.build(dict(type='LoadDepthFromFile', depth_scale=128.0))(
        dict(depth_path=str(tmp_path / 'd.png'), depth_scale=256.0, img_shape=(3, 4)))
    np.testing.assert_array_equal(same_size['depth'], depth * 2)  # the explicit scale wins


def test_load_depth_errors_name_the_file(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadDepthFromFile'))
    write_depth_png(tmp_path / 'd.png', np.ones((3, 4), np.float32))

    def results(name, img_shape=(3, 4)):
        return dict(img_path='x.jpg', depth_path=str(tmp_path / name), depth_scale=256.0,
                    img_shape=img_shape)

    for shape in [(5, 8), (6, 4), (2, 3)]:
        with pytest.raises(ValueError, match=r'd\.png.*integer factor'):
            load(results('d.png', shape))
    cv2.imwrite(str(tmp_path / 'rgb.png'), np.zeros((3, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'gray8.png'), np.zeros((3, 4), np.uint8))
    for name in ['rgb.png', 'gray8.png']:
        with pytest.raises(ValueError, match=f'16-bit.*{name}'):
            load(results(name))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load(results('missing.png'))
    (tmp_path / 'junk.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='readable.*junk.png'):
        load(results('junk.png'))
    with pytest.raises(KeyError, match="'depth_path' for image x.jpg"):
        load(dict(results('d.png'), depth_path=None))
    with pytest.raises(KeyError, match='depth_scale'):
        load(dict(results('d.png'), depth_scale=None))
    with pytest.raises(KeyError, match='LoadImageFromFile'):
        load({k: v for k, v in results('d.png').items() if k != 'img_shape'})


def global_and_local_views():
    global_view = [dict(type='RandomResizedCropWithDepth', size=SIZE),
                   dict(type='RandomFlipWithDepth', prob=0.5), dict(type='TokenGeometry')]
    local_view = [dict(type='RandomResizedCropWithDepth', size=96, scale=(0.05, 0.25)),
                  dict(type='RandomFlipWithDepth', prob=0.5)]
    return global_view, local_view


def test_multi_view_collects_independent_views_and_their_geometry():
    np.random.seed(0)
    global_view, local_view = global_and_local_views()
    multi_view = TRANSFORMS.build(dict(type='MultiViewWithDepth', num_views=[1, 1, 3],
                                       transforms=[global_view, global_view, local_view]))
    sample = marked_sample()
    original = sample['img'].copy()
    out = multi_view(sample)
    assert [v.shape for v in out['img']] == [(SIZE, SIZE, 3)] * 2 + [(96, 96, 3)] * 3
    assert len(out['token_positions']) == len(out['token_depths']) == len(out['token_depth_valid']) == 2
    assert not np.array_equal(out['token_positions'][0], out['token_positions'][1])  # two crops
    assert 'depth' not in out and 'view_to_orig' not in out and out['ori_shape'] == (H, W)
    np.testing.assert_array_equal(marked_sample()['img'], original)  # the input was not modified

    packed = TRANSFORMS.build(dict(type='PackMultiViewInputs'))(out)
    assert [tuple(v.shape) for v in packed['inputs']] == [(3, SIZE, SIZE)] * 2 + [(3, 96, 96)] * 3
    assert all(v.dtype == torch.uint8 for v in packed['inputs'])
    np.testing.assert_array_equal(packed['inputs'][0].permute(1, 2, 0).numpy(), out['img'][0])
    sample = packed['data_samples']
    n = N_SIDE ** 2
    assert sample.token_positions.shape == (2, n, 2) and sample.token_positions.dtype == torch.float32
    assert sample.token_depths.shape == (2, n) and sample.token_depths.dtype == torch.float32
    assert sample.token_depth_valid.shape == (2, n) and sample.token_depth_valid.dtype == torch.bool
    assert sample.ori_shape == (H, W)


def test_multi_view_rejects_geometry_after_views_without_and_bad_groups():
    global_view, local_view = global_and_local_views()
    bad_order = TRANSFORMS.build(dict(type='MultiViewWithDepth', num_views=[1, 1],
                                      transforms=[local_view, global_view]))
    with pytest.raises(ValueError, match='TokenGeometry must come first'):
        bad_order(marked_sample())
    with pytest.raises(ValueError, match='differ in length'):
        TRANSFORMS.build(dict(type='MultiViewWithDepth', num_views=[1, 1], transforms=[global_view]))
    with pytest.raises(TypeError, match='MultiViewWithDepth before it'):
        TRANSFORMS.build(dict(type='PackMultiViewInputs'))(marked_sample())


def _textured_image(height=450, width=800, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    stripes = (127 + 120 * np.sin(x / 1.3) * np.cos(y / 2.1)).astype(np.uint8)  # fine detail that aliases
    noise = rng.integers(0, 256, (height, width), dtype=np.uint8)
    return np.stack([stripes, noise, stripes[::-1]], axis=-1)


@pytest.mark.parametrize('interpolation, mode', [('bicubic', InterpolationMode.BICUBIC),
                                                 ('bilinear', InterpolationMode.BILINEAR)])
def test_view_resize_equals_torchvision_resized_crop_on_a_pil_image(interpolation, mode):
    """DINO's and CrIBo's RandomResizedCrop(224, interpolation=BICUBIC) runs on PIL images: PIL
    anti-aliases when shrinking. The crop box is the transform's own (seeded); the pixels must equal
    torchvision's for that box."""
    img = _textured_image()
    transform = RandomResizedCropWithDepth(size=96, scale=(0.25, 1.0), interpolation=interpolation)
    np.random.seed(3)
    out = transform(dict(img=img.copy(), depth=np.ones(img.shape[:2], np.float32)))
    (sx, _, left), (_, sy, top) = out['view_to_orig']
    width, height = round(sx * 96), round(sy * 96)
    expected = TF.resized_crop(Image.fromarray(img), int(round(top)), int(round(left)), height, width, [96, 96],
                               interpolation=mode)
    np.testing.assert_array_equal(out['img'], np.asarray(expected))
    assert width / 96 > 2  # a real shrink, where OpenCV's INTER_CUBIC would alias
