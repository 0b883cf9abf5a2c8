"""Each operation of the device rendering against the CPU transform it restates (s3pt_mm/models/utils/
view_rendering.py): PIL's ImageEnhance, mmcv's adjust_hue (OpenCV backend), RandomGrayscale and solarize,
OpenCV's GaussianBlur, PIL's resize of a crop, torchvision's EXIF orientation. Where the arithmetic is restated
exactly the test asserts equality; elsewhere the bound is stated with the value measured when it was set."""
import io

import cv2
import mmcv
import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance
from torchvision.io import decode_jpeg

from s3pt_mm.datasets.transforms.depth_crops import random_resized_crop_box
from s3pt_mm.models.utils import view_rendering as vr
from tests.helpers import psnr


@pytest.fixture(scope='module')
def views():
    """Four 96x96 RGB views: noise over a ramp (every hue and saturation), with a gray patch (saturation 0) and
    a black one (value 0)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 160, 96)[None, :, None] + np.array([0, 40, 80])[None, None, :]
    rgb = np.clip(ramp + rng.normal(0, 60, (4, 96, 96, 3)), 0, 255).astype(np.uint8)
    rgb[:, :8, :8] = 128
    rgb[:, -8:, -8:] = 0
    return rgb


def as_tensor(rgb):
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float()


def as_array(views):
    return views.permute(0, 2, 3, 1).numpy()


def per_view(values):
    return torch.tensor(values, dtype=torch.float64)[:, None]


@pytest.mark.parametrize('name, enhancer', [('brightness', ImageEnhance.Brightness),
                                            ('contrast', ImageEnhance.Contrast),
                                            ('saturation', ImageEnhance.Color)])
def test_enhancements_equal_pil(views, name, enhancer):
    for factors in ([0.6, 0.95, 1.05, 1.4], [0.0, 1.0, 2.5, 0.61803]):
        out = as_array(getattr(vr, name)(as_tensor(views), per_view(factors)))
        expected = np.stack([np.asarray(enhancer(Image.fromarray(view)).enhance(f)) for view, f in zip(views, factors)])
        np.testing.assert_array_equal(out, expected)


def test_luma_equals_pil_convert_l(views):
    expected = np.stack([np.asarray(Image.fromarray(view).convert('L')) for view in views])
    np.testing.assert_array_equal(vr.luma(as_tensor(views))[:, 0].numpy(), expected)


def test_hue_equals_mmcv_opencv_backend(views):
    """The configs' hue range (|factor| <= 0.1) is exact; larger rotations within 1 level on a few pixels
    (measured: 9e-6 of them at 0.37 and -0.5, float32 rounding at a sector boundary)."""
    for factors, exact in (([0.1, -0.1, 0.05, -0.0001], True), ([0.37, -0.5, 0.25, -0.3], False)):
        out = as_array(vr.hue(as_tensor(views), per_view(factors)))
        expected = np.stack([mmcv.adjust_hue(view[..., ::-1].copy(), f, backend='cv2')[..., ::-1]
                             for view, f in zip(views, factors)])
        difference = np.abs(out - expected)
        if exact:
            assert difference.max() == 0
        else:
            assert difference.max() <= 1 and (difference > 0).mean() < 1e-4


def test_opencv_hsv_restated_exactly(views):
    x = as_tensor(views)
    hsv = np.stack([cv2.cvtColor(view, cv2.COLOR_RGB2HSV_FULL) for view in views])
    for channel, ours in enumerate(vr._hsv_from_rgb(x)):
        np.testing.assert_array_equal(ours[:, 0].numpy(), hsv[..., channel])
    h, s, v = (torch.from_numpy(hsv[..., c]).double()[:, None] for c in range(3))
    expected = np.stack([cv2.cvtColor(view, cv2.COLOR_HSV2RGB_FULL) for view in hsv])
    np.testing.assert_array_equal(as_array(vr._rgb_from_hsv(h, s, v)), expected)


def test_grayscale_equals_mmcv_random_grayscale(views):
    from mmcv.transforms import RandomGrayscale
    weights = np.array([0.114, 0.587, 0.2989]) / (0.114 + 0.587 + 0.2989)
    out = as_array(vr.grayscale(as_tensor(views), torch.from_numpy(np.tile(weights, (4, 1)))))
    gray = RandomGrayscale(prob=1.0, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
    expected = np.stack([gray(dict(img=view[..., ::-1].copy()))['img'][..., ::-1] for view in views])
    np.testing.assert_array_equal(out, expected)


def test_solarize_and_flip_equal_mmcv(views):
    out = as_array(vr.solarize(as_tensor(views), per_view([128, 128, 0, 255])))
    np.testing.assert_array_equal(out, np.stack([mmcv.solarize(view, thr) for view, thr in
                                                 zip(views, [128, 128, 0, 255])]))
    np.testing.assert_array_equal(as_array(vr.flip(as_tensor(views), None)), views[:, :, ::-1])


def test_blur_within_one_level_of_opencv_per_view_sigma(views):
    """OpenCV blurs uint8 images in fixed point: within 1 level (measured: 15 % of the pixels off by 1), with each
    view's own kernel size although the batch shares the largest."""
    sigmas = [0.1, 0.5, 1.3, 2.0]
    out = as_array(vr.blur(as_tensor(views), per_view(sigmas)))
    expected = np.stack([cv2.GaussianBlur(view, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REPLICATE)
                         for view, s in zip(views, sigmas)])
    difference = np.abs(out - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.25
    assert [vr.gaussian_kernel_size(s) for s in sigmas] == [3, 5, 9, 13]  # cvRound(6 sigma + 1) | 1
    alone = as_array(vr.blur(as_tensor(views[:1]), per_view(sigmas[:1])))
    np.testing.assert_array_equal(out[:1], alone)


@pytest.mark.parametrize('resample', [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC])
def test_resized_crop_is_pils_two_passes(resample):
    """Against PIL's two passes, horizontal then vertical: within 1 level of its fixed point when shrinking
    (measured: 0.1-1.8 % of the pixels), 2 when a side is enlarged (7 %). Against PIL's one ``resize``, whose
    pass order Pillow 13 picks itself, PSNR >= 48 dB on this pixel noise (measured minimum 50.9 dB)."""
    rng = np.random.default_rng(1)
    image = np.clip(np.linspace(0, 255, 800)[None, :, None] + rng.normal(0, 30, (450, 800, 3)), 0, 255)
    image = image.astype(np.uint8)
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    np.random.seed(0)
    for size, scale, bound in ((224, (0.25, 1.0), 1), (96, (0.05, 0.25), 1), (224, (0.01, 0.02), 2),
                               (224, (0.05, 0.15), 2)):
        for _ in range(20):
            top, left, h, w = random_resized_crop_box(450, 800, scale, (3 / 4, 4 / 3))
            crop = Image.fromarray(image[top:top + h, left:left + w])
            out = vr.resized_crop(tensor, top, left, h, w, size, int(resample))[0].permute(1, 2, 0).numpy()
            two_passes = np.asarray(crop.resize((size, h), resample).resize((size, size), resample))
            difference = np.abs(out - two_passes)
            assert difference.max() <= bound and (difference > 0).mean() < 0.1
            assert psnr(out, np.asarray(crop.resize((size, size), resample))) >= 48
    with pytest.raises(ValueError, match='bilinear .* or bicubic'):
        vr.resized_crop(tensor, 0, 0, 10, 10, 4, int(Image.Resampling.LANCZOS))


def test_exif_transpose_equals_torchvision(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (40, 64, 3)).astype(np.uint8)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, 'JPEG', exif=exif)
        data = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
        assert torch.equal(vr.exif_transpose(decode_jpeg(data), orientation),
                           decode_jpeg(data, apply_exif_orientation=True)), orientation


def test_decode_images_names_the_file_it_cannot_decode(tmp_path):
    good = io.BytesIO()
    Image.new('RGB', (32, 16), (10, 200, 30)).save(good, 'JPEG')
    png = io.BytesIO()
    Image.new('RGB', (8, 4), (1, 2, 3)).save(png, 'PNG')
    encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in
               (good.getvalue(), png.getvalue())]
    images = vr.decode_images(encoded, [1, 6], ['a.jpg', 'b.png'], torch.device('cpu'))
    assert images[0].shape == (3, 16, 32) and images[1].shape == (3, 8, 4)  # PNG turned by its orientation
    assert images[1][:, 0, 0].tolist() == [1, 2, 3]
    truncated = torch.frombuffer(bytearray(good.getvalue()[:40]), dtype=torch.uint8)
    with pytest.raises(ValueError, match='cannot decode image broken.jpg'):
        vr.decode_images([encoded[0], truncated], [1, 1], ['a.jpg', 'broken.jpg'], torch.device('cpu'))
