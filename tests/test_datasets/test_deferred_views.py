"""Views rendered on the device (configs/pretrain/*_device-views.py) against the same configs' CPU views.

The workers record each view with the CPU transforms' random draws (s3pt_mm/utils/deferred_view.py) and
``DeferredViewsDataPreprocessor`` renders them (s3pt_mm/models/utils/view_rendering.py, each operation tested in
tests/test_models/test_utils/test_view_rendering.py). Here, whole pipelines on the 900x1600 frame: the same
draws (the token geometry and the random streams identical), and the pixels within the stated bounds of the CPU
path at full-size decoding and of the configs' CPU path (which decodes at 1/2 size)."""
import copy
import random

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose, RandomApply, RandomGrayscale
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import ColorJitter, Solarize
from mmpretrain.registry import MODELS

import s3pt_mm.datasets  # noqa: F401
import s3pt_mm.models  # noqa: F401
from s3pt_mm.datasets.transforms import (DeferrableGrayscale, DeferrableSolarize, DeferredView, ImageForCrops,
                                         MultiViewWithDepth)
from s3pt_mm.utils import deferred_view
from tests.helpers import ROOT, psnr

CONFIGS = ['s3pt_vit-s16_8xb32-500e_nuscenes', 'cribo_vit-s16_8xb32-500e_nuscenes',
           'dino_vit-s16_8xb32-500e_nuscenes']
TOKEN_KEYS = ('token_positions', 'token_depths', 'token_depth_valid')


def config(name):
    init_default_scope('mmpretrain')
    return Config.fromfile(str(ROOT / 'configs/pretrain' / f'{name}.py'))


def run(pipeline, info, seed):
    """One sample with both random streams seeded (mmcv's RandomGrayscale draws from ``random``, the others
    from ``np.random``), and the next draw of each stream (equal when the pipelines drew alike)."""
    random.seed(seed)
    np.random.seed(seed)
    sample = pipeline(dict(info))
    return sample, (random.random(), np.random.rand())


def cpu_views(preprocessor, samples):
    """The views as the network gets them on the CPU path, back in 0-255 BGR: (V, B, 3, S, S)."""
    out = preprocessor(default_collate(samples))['inputs']
    return [(view * preprocessor.std + preprocessor.mean).flip(1) for view in out]


@pytest.mark.parametrize('name', CONFIGS)
def test_device_views_have_the_cpu_paths_draws_geometry_and_pixels(frame, name):
    """Against the CPU path decoding at full size: PSNR >= 55 dB per view and at most 1 % of the pixels more
    than 1 level off (measured over 16 seeds, S3PT and DINO: 59.5 dB minimum, 0.35 %; what differs: the
    crops' edge pixels, which PIL reads outside the crop and the device does not, and OpenCV's fixed-point blur).
    Against the configs' CPU path (1/2-size decode), PSNR >= 36 dB (measured 39.5 dB: the reduced decode)."""
    device_cfg, cpu_cfg = config(f'{name}_device-views'), config(name)
    device = Compose(device_cfg.train_dataloader.dataset.pipeline)
    full_size = copy.deepcopy(cpu_cfg.train_dataloader.dataset.pipeline)
    full_size[0]['max_reduction'] = 1
    references = {'full-size decode': (Compose(full_size), 55.0),
                  'config': (Compose(copy.deepcopy(cpu_cfg.train_dataloader.dataset.pipeline)), 36.0)}
    renderer = MODELS.build(device_cfg.model.data_preprocessor)
    unpack = MODELS.build(cpu_cfg.model.data_preprocessor)
    assert type(renderer).__name__ == 'DeferredViewsDataPreprocessor'
    seeds = range(6)
    deferred = [run(device, frame, seed) for seed in seeds]
    rendered = renderer(default_collate([sample for sample, _ in deferred]))
    views = [(view * renderer.std + renderer.mean).flip(1).round() for view in rendered['inputs']]
    for label, (pipeline, bound) in references.items():
        expected = [run(pipeline, frame, seed) for seed in seeds]
        for (ours, our_next), (theirs, their_next) in zip(deferred, expected):
            assert our_next == their_next  # the same draws, from both streams
            for key in TOKEN_KEYS:
                assert (key in ours['data_samples']) == (key in theirs['data_samples'])
                if key in ours['data_samples']:
                    assert torch.equal(ours['data_samples'].get(key), theirs['data_samples'].get(key))
        reference = cpu_views(unpack, [sample for sample, _ in expected])
        assert [view.shape for view in views] == [view.shape for view in reference]
        for view, ref in zip(views, reference):
            assert min(psnr(v, r) for v, r in zip(view, ref)) >= bound, label
            if label == 'full-size decode':
                assert ((view - ref).abs() > 1).float().mean() <= 0.01
    for sample, (packed, _) in zip(rendered['data_samples'], deferred):
        assert sample.img_path == frame['img_path']
        assert torch.equal(sample.encoded_img, packed['data_samples'].encoded_img)


def test_the_worker_sends_the_file_and_recipes_not_pixels(frame):
    pipeline = Compose(config('s3pt_vit-s16_8xb32-500e_nuscenes_device-views').train_dataloader.dataset.pipeline)
    sample, _ = run(pipeline, frame, 0)
    with open(frame['img_path'], 'rb') as file:
        assert bytes(sample['data_samples'].encoded_img.numpy()) == file.read()
    assert sample['data_samples'].img_orientation == 1
    recipes = sample['inputs']
    assert len(recipes) == 2 and all(r.dtype == torch.float64 and r.shape == (12, 7) for r in recipes)
    for recipe, positions in zip(recipes, sample['data_samples'].token_positions):
        code, top, left, height, width, size, resample = recipe[0].tolist()
        assert (code, size, resample) == (deferred_view.RESIZED_CROP, 224, 3)  # bicubic
        flipped = deferred_view.FLIP in recipe[:, 0].tolist()
        # the first token's centre (8, 8) in the view, mapped back through the recorded crop (and flip)
        x = left + (224 - 8 if flipped else 8) * width / 224
        assert positions[0].tolist() == pytest.approx([x, top + 8 * height / 224], rel=1e-6)


def test_deferred_view_records_in_order_and_never_changes():
    frame = DeferredView((900, 1600, 3))
    view = frame.resized_crop(10, 20, 300, 400, 224, 3).then(deferred_view.FLIP).then(deferred_view.HUE, -0.05)
    assert frame.ops == () and frame.shape == (900, 1600, 3)
    assert view.shape == (224, 224, 3) and view.describe() == 'RESIZED_CROP, FLIP, HUE'
    recipe = view.to_array()
    assert recipe.shape == (deferred_view.MAX_OPS, 7) and not recipe[3:].any()
    np.testing.assert_array_equal(recipe[0], [deferred_view.RESIZED_CROP, 10, 20, 300, 400, 224, 3])
    np.testing.assert_array_equal(recipe[2, :2], [deferred_view.HUE, -0.05])
    with pytest.raises(ValueError, match='must be the first operation'):
        view.resized_crop(0, 0, 10, 10, 4, 3)
    with pytest.raises(ValueError, match='before the view was cropped'):
        frame.then(deferred_view.FLIP)
    full = view
    for _ in range(deferred_view.MAX_OPS - len(view.ops)):
        full = full.then(deferred_view.FLIP)
    with pytest.raises(ValueError, match='at most 12 operations'):
        full.then(deferred_view.FLIP)


@pytest.mark.parametrize('ours, theirs, kwargs', [
    (DeferrableGrayscale, RandomGrayscale, dict(prob=0.5, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))),
    (DeferrableSolarize, Solarize, dict(thr=128, prob=0.5))])
def test_deferrable_transforms_are_the_library_transforms_on_arrays_and_record_the_same_draws(ours, theirs, kwargs):
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    applied = 0
    for seed in range(20):
        random.seed(seed)
        np.random.seed(seed)
        expected = theirs(**kwargs)(dict(img=image.copy()))['img']
        random.seed(seed)
        np.random.seed(seed)
        np.testing.assert_array_equal(ours(**kwargs)(dict(img=image.copy()))['img'], expected)
        random.seed(seed)
        np.random.seed(seed)
        recorded = ours(**kwargs)(dict(img=DeferredView((32, 32, 3), ((deferred_view.RESIZED_CROP, ), ))))['img']
        was_applied = not np.array_equal(expected, image)
        assert len(recorded.ops) == 1 + was_applied
        applied += was_applied
    assert 0 < applied < 20
    with pytest.raises(ValueError, match='keep_channels=True'):
        DeferrableGrayscale(prob=1.0)(dict(img=DeferredView((8, 8, 3), ((deferred_view.RESIZED_CROP, ), ))))


def test_render_device_rejects_what_the_device_cannot_render():
    crop = dict(type='RandomResizedCropWithDepth', size=32)
    with pytest.raises(ValueError, match="ColorJitter.*cannot record"):
        MultiViewWithDepth([1], [[crop, RandomApply([ColorJitter(brightness=0.4)])]], render='device')
    with pytest.raises(ValueError, match='resamples with'):
        MultiViewWithDepth([1], [[dict(crop, interpolation='lanczos')]], render='device')
    with pytest.raises(ValueError, match='start with RandomResizedCropWithDepth'):
        MultiViewWithDepth([1], [[dict(type='RandomFlipWithDepth')]], render='device')
    with pytest.raises(ValueError, match="render must be 'cpu' or 'device'"):
        MultiViewWithDepth([1], [[crop]], render='gpu')
    views = MultiViewWithDepth([1], [[crop]], render='device')
    with pytest.raises(TypeError, match='load x.jpg with LoadImageForCrops'):
        views(dict(img=np.zeros((64, 64, 3), np.uint8), img_path='x.jpg'))


def test_preprocessor_channel_order_and_errors(frame):
    pipeline = Compose(config('cribo_vit-s16_8xb32-500e_nuscenes_device-views').train_dataloader.dataset.pipeline)
    batch = default_collate([run(pipeline, frame, seed)[0] for seed in range(2)])
    rgb = MODELS.build(dict(type='DeferredViewsDataPreprocessor', to_rgb=True))(batch)['inputs']
    bgr = MODELS.build(dict(type='DeferredViewsDataPreprocessor', to_rgb=False))(batch)['inputs']
    assert all(torch.equal(a, b.flip(1)) for a, b in zip(rgb, bgr))
    assert 0 <= min(view.min() for view in rgb) and max(view.max() for view in rgb) <= 255
    with pytest.raises(TypeError, match='renders views from recipes'):
        MODELS.build(dict(type='DeferredViewsDataPreprocessor'))(
            dict(inputs=[torch.zeros(2, 3, 8, 8, dtype=torch.uint8)], data_samples=batch['data_samples']))
    for sample in batch['data_samples']:
        del sample.encoded_img
    with pytest.raises(KeyError, match=r'data samples \[0, 1\] have no encoded_img'):
        MODELS.build(dict(type='DeferredViewsDataPreprocessor'))(batch)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_views_are_rendered_in_float32_under_the_optimizer_wrappers_autocast(frame, dtype):
    """mmengine runs the data preprocessor inside AmpOptimWrapper's autocast: the rendering switches it off (in
    fp16 or bf16 the blur's convolution would round values near 255 to 0.125-1 levels, and writing its output
    into the float32 batch would fail)."""
    pipeline = Compose(config('s3pt_vit-s16_8xb32-500e_nuscenes_device-views').train_dataloader.dataset.pipeline)
    batch = default_collate([run(pipeline, frame, seed)[0] for seed in range(4)])
    assert any(deferred_view.BLUR in recipe[:, 0].tolist() for group in batch['inputs'] for recipe in group)
    renderer = MODELS.build(dict(type='DeferredViewsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                                 std=[58.395, 57.12, 57.375], to_rgb=True))
    expected = renderer(batch)['inputs']
    with torch.autocast('cpu', dtype=dtype):
        views = renderer(batch)['inputs']
    assert all(view.dtype == torch.float32 and torch.equal(view, ref) for view, ref in zip(views, expected))


def test_image_for_crops_keeps_the_bytes_it_was_given(frame):
    with open(frame['img_path'], 'rb') as file:
        data = file.read()
    image = ImageForCrops(data, frame['img_path'])
    image.decode(2)
    assert image.data is data and image.orientation == 1
