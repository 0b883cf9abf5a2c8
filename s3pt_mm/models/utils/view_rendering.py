"""Views rendered on the training device from their recipes (:mod:`s3pt_mm.utils.deferred_view`).

The data-loader workers record each view's operations with the CPU transforms' random draws; here a batch's
images are decoded on the device and each operation is computed as the CPU transform computes it, on all
the views of the batch that have it at that step at once. Every intermediate is rounded to uint8 values as on
the CPU (kept in float32). What matches the CPU path exactly and what does not
(tests/test_models/test_view_rendering.py bounds each):

* flip, brightness, contrast, saturation (``PIL.ImageEnhance``: its float32 blend, truncated), grayscale (mmcv:
  float64 weighted sum, truncated) and solarize: the same arithmetic;
* hue (mmcv's OpenCV backend): OpenCV's 8-bit HSV conversions restated (the fixed-point tables of RGB-to-HSV,
  the float32 arithmetic of HSV-to-RGB), with mmcv's uint8 rotation of the hue;
* blur: a float Gaussian of OpenCV's kernel size for uint8 images (OpenCV's own is fixed-point), rounded;
* resized crop: torch's anti-aliased bilinear / bicubic (PIL's filters, a = -0.5) in two uint8 passes,
  horizontal then vertical, of the crop of the frame decoded at full size: within 1 level of PIL's fixed point
  in that order (Pillow 13 sometimes takes the other: a few levels apart where a bicubic overshoots). The
  configs' CPU path resamples from the frame decoded at a JPEG DCT reduction (1/2), with PIL reading the pixels
  just outside the crop that its filter reaches; here the crop's edge pixels are repeated instead.

All functions take and return (N, 3, H, W) float32 RGB images with integer values in [0, 255]; the operations'
``params`` are the (N, 6) parameter columns of their recipe rows, on the CPU (each function moves what it needs
to the images' device).
"""
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from ...utils import deferred_view as ops

_JPEG_MAGIC = b'\xff\xd8'
_INV_255 = torch.tensor(1 / 255, dtype=torch.float32).item()  # OpenCV's 1.f / 255
_SIX_255THS = torch.tensor(6 / 255, dtype=torch.float32).item()
# OpenCV's HSV-to-RGB sector table (its sector_data, given there as b, g, r), as the r, g, b picks of
# [v, v (1 - s), v (1 - s f), v (1 - s (1 - f))]
_HSV_SECTORS = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])


def _uint8(x: torch.Tensor) -> torch.Tensor:
    """C's float-to-uint8 cast after clipping (truncation), as PIL's blend and mmcv's astype do."""
    return x.clamp(0, 255).trunc()


def _round_uint8(x: torch.Tensor) -> torch.Tensor:
    """OpenCV's / PIL's resampling ``saturate_cast``: round, then clip."""
    return x.round().clamp(0, 255)


def exif_transpose(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(C, H, W) image as displayed for its EXIF ``orientation`` (PIL's ``ImageOps.exif_transpose``)."""
    if orientation in (1, 0):
        return image
    transposed = {2: lambda x: x.flip(-1), 3: lambda x: x.flip(-2, -1), 4: lambda x: x.flip(-2),
                  5: lambda x: x.transpose(-2, -1), 6: lambda x: torch.rot90(x, -1, (-2, -1)),
                  7: lambda x: x.transpose(-2, -1).flip(-2, -1), 8: lambda x: torch.rot90(x, 1, (-2, -1))}
    if orientation not in transposed:
        raise ValueError(f'EXIF orientation must be 1-8, got {orientation}')
    return transposed[orientation](image)


def decode_images(encoded: Sequence[torch.Tensor], orientations: Sequence[int], paths: Sequence[str],
                  device: torch.device) -> List[torch.Tensor]:
    """Decode a batch of image files on ``device``: JPEGs together (nvJPEG on a GPU), other formats on the CPU.

    Args:
        encoded: each file's bytes, (L_i,) uint8 CPU tensors.
        orientations: each file's EXIF orientation.
        paths: the files, for messages.

    Returns:
        list[torch.Tensor]: (3, H_i, W_i) uint8 RGB images on ``device``, as displayed (EXIF orientation applied).
    """
    images: List[torch.Tensor] = [None] * len(encoded)
    jpegs = [i for i, data in enumerate(encoded) if bytes(data[:2].tolist()) == _JPEG_MAGIC]
    try:
        for i, image in zip(jpegs, decode_jpeg([encoded[i] for i in jpegs], mode=ImageReadMode.RGB, device=device)
                            if jpegs else []):
            images[i] = image
    except RuntimeError:  # find the file: the batch decode does not say which
        for i in jpegs:
            _decode_one(encoded[i], paths[i], device, decode_jpeg)
        raise
    for i in set(range(len(encoded))) - set(jpegs):
        images[i] = _decode_one(encoded[i], paths[i], device, decode_image)
    return [exif_transpose(image, orientation) for image, orientation in zip(images, orientations)]


def _decode_one(data: torch.Tensor, path: str, device: torch.device, decode: Callable) -> torch.Tensor:
    try:
        image = decode(data, mode=ImageReadMode.RGB, **({'device': device} if decode is decode_jpeg else {}))
    except RuntimeError as error:
        raise ValueError(f'cannot decode image {path}: {error}') from error
    return image.to(device)


def resized_crop(image: torch.Tensor, top: int, left: int, height: int, width: int, size: int,
                 resample: int) -> torch.Tensor:
    """The crop of a (3, H, W) image of uint8 values (uint8, or float32 converted once for all the frame's views)
    resized to (1, 3, size, size) float32 with PIL's ``resample`` filter:
    anti-aliased when shrinking, in two passes, horizontal then vertical, each rounded to uint8 (a bicubic's
    overshoot is clipped between them, as in PIL). Pillow 13 picks the order of its passes by a rule of its own;
    the other order differs by a few levels where the bicubic overshoots (pixel noise)."""
    if resample not in ops.TORCH_RESAMPLING:
        raise ValueError(f'the device resamples bilinear (2) or bicubic (3) crops, got PIL filter {resample}')
    mode = ops.TORCH_RESAMPLING[resample]
    crop = image[:, top:top + height, left:left + width].unsqueeze(0)
    crop = crop if crop.is_floating_point() else crop.float()
    rows = _round_uint8(F.interpolate(crop, size=(height, size), mode=mode, antialias=True, align_corners=False))
    return _round_uint8(F.interpolate(rows, size=(size, size), mode=mode, antialias=True, align_corners=False))


def luma(x: torch.Tensor) -> torch.Tensor:
    """PIL's RGB-to-L conversion, (N, 1, H, W): ``(19595 R + 38470 G + 7471 B + 2**15) >> 16`` (exact in
    float32: the sum stays below 2**24)."""
    weighted = 19595 * x[:, 0:1] + 38470 * x[:, 1:2] + 7471 * x[:, 2:3] + 32768
    return torch.floor(weighted / 65536)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, x, factor)``: ``degenerate + factor * (x - degenerate)`` in float32,
    truncated to uint8 (``ImageEnhance``'s enhance)."""
    return _uint8(degenerate + _per_view(factor.float(), x) * (x - degenerate))


def _per_view(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N,) values as (N, 1, 1, 1) on the device of ``x``."""
    return values.to(x.device).view(-1, 1, 1, 1)


def brightness(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Brightness(x).enhance(params[:, 0])``: the blend with black."""
    return _blend(torch.zeros_like(x), x, params[:, 0])


def contrast(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Contrast``: the blend with the mean luma, rounded to an integer (``int(mean + 0.5)``)."""
    mean = torch.floor(luma(x).double().mean(dim=(1, 2, 3), keepdim=True) + 0.5).float()
    return _blend(mean.expand_as(x), x, params[:, 0])


def saturation(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Color``: the blend with the image's luma."""
    return _blend(luma(x).expand_as(x), x, params[:, 0])


def _hsv_from_rgb(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV's 8-bit ``COLOR_RGB2HSV_FULL`` with its fixed-point tables: h, s, v, each (N, 1, H, W) float64.
    ``h = (delta * round(2**20 / (6 diff)) + 2**11) >> 12`` in [0, 256) (+ 256 when negative),
    ``s = (diff * round(255 * 2**12 / v) + 2**11) >> 12``, ``v`` the largest channel (shifts are floors)."""
    r, g, b = x[:, 0:1].double(), x[:, 1:2].double(), x[:, 2:3].double()
    v, vmin = torch.maximum(torch.maximum(r, g), b), torch.minimum(torch.minimum(r, g), b)
    diff = v - vmin
    delta = torch.where(v == r, g - b, torch.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    # saturate_cast<int> rounds half to even, as torch.round does
    hue_table = torch.where(diff > 0, torch.round((256 << 12) / (6 * diff.clamp(min=1))), torch.zeros_like(diff))
    h = torch.floor((delta * hue_table + (1 << 11)) / (1 << 12))
    saturation_table = torch.where(v > 0, torch.round((255 << 12) / v.clamp(min=1)), torch.zeros_like(v))
    s = torch.floor((diff * saturation_table + (1 << 11)) / (1 << 12))
    return torch.where(h < 0, h + 256, h), s, v


def _rgb_from_hsv(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """OpenCV's (4.11, the locked version) ``COLOR_HSV2RGB_FULL`` of 8-bit h, s, v (each (N, 1, H, W)): float32
    HSV with the hue in sectors of ``6 / 255`` and s, v times ``1 / 255``; each channel one of ``v``,
    ``v (1 - s)``, ``v (1 - s f)``, ``v (1 - s (1 - f))`` by sector; times 255, rounded; (N, 3, H, W)."""
    h = h.float() * _SIX_255THS
    s, v = s.float() * _INV_255, v.float() * _INV_255
    sector = torch.floor(h)
    frac = h - sector
    table = torch.cat([v, v * (1 - s), v * (1 - s * frac), v * (1 - s * (1 - frac))], dim=1)  # (N, 4, H, W)
    picks = _HSV_SECTORS.to(h.device)[sector.long().squeeze(1) % 6].permute(0, 3, 1, 2)  # (N, 3, H, W)
    return _round_uint8(torch.gather(table, 1, picks) * 255)


def hue(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """mmcv's ``adjust_hue(img, factor, backend='cv2')``: 8-bit HSV (full range), the hue rotated by
    ``np.uint8(factor * 255)`` (truncated, modulo 256), back to RGB."""
    shift = _per_view(torch.remainder(torch.trunc(params[:, 0].double() * 255), 256), x)
    h, s, v = _hsv_from_rgb(x)
    return _rgb_from_hsv(torch.remainder(h + shift, 256), s, v)


def grayscale(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """mmcv's ``RandomGrayscale(keep_channels=True)``: the weighted sum of the channels (weights given for B, G,
    R, normalised; summed in float64 in B, G, R order), truncated, in all three channels."""
    weights = params[:, :3].double().to(x.device).view(-1, 3, 1, 1)
    bgr = x.double().flip(1)
    gray = (weights[:, 0:1] * bgr[:, 0:1] + weights[:, 1:2] * bgr[:, 1:2]) + weights[:, 2:3] * bgr[:, 2:3]
    return _uint8(gray.float()).expand_as(x).contiguous()


def gaussian_kernel_size(sigma: float) -> int:
    """OpenCV's kernel size for a uint8 image and ``ksize=(0, 0)``: ``cvRound(sigma * 6 + 1) | 1``."""
    return int(round(sigma * 6 + 1)) | 1


def blur(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """OpenCV's ``GaussianBlur(img, (0, 0), sigma)`` with replicated edges, in float32, rounded; one standard
    deviation per view. The views' kernels (made on the CPU) are zero-padded to the largest, which changes no
    sum."""
    sigmas = params[:, 0].cpu().double()
    sizes = torch.tensor([gaussian_kernel_size(sigma) for sigma in sigmas.tolist()])
    radius = int(sizes.max()) // 2
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernels = torch.exp(-offsets**2 / (2 * sigmas[:, None]**2)) * (offsets.abs() <= (sizes[:, None] // 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    n, c, height, width = x.shape
    weight = kernels.float().repeat_interleave(c, dim=0).to(x.device)  # (N * C, K)
    out = F.pad(x.reshape(1, n * c, height, width), (radius, radius, radius, radius), mode='replicate')
    out = F.conv2d(out, weight.view(n * c, 1, 1, -1), groups=n * c)
    out = F.conv2d(out, weight.view(n * c, 1, -1, 1), groups=n * c)
    return _round_uint8(out.view(n, c, height, width))


def solarize(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``mmcv.solarize``: values at or above the threshold inverted."""
    return torch.where(x < _per_view(params[:, 0].float(), x), x, 255 - x)


def flip(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Horizontal flip."""
    return x.flip(-1)


OPERATIONS: Dict[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    ops.FLIP: flip, ops.BRIGHTNESS: brightness, ops.CONTRAST: contrast, ops.SATURATION: saturation,
    ops.HUE: hue, ops.GRAYSCALE: grayscale, ops.BLUR: blur, ops.SOLARIZE: solarize}


def render_views(images: Sequence[torch.Tensor], recipes: torch.Tensor) -> torch.Tensor:
    """One view of each image of a batch, from its recipe.

    Args:
        images: B decoded images, (3, H_i, W_i) RGB on the device, uint8 or their float32 values.
        recipes: (B, MAX_OPS, 7) float64, one recipe per image (all with the same output size), on the CPU.

    Returns:
        torch.Tensor: (B, 3, S, S) float32 RGB views, integer values in [0, 255], on the images' device.
    """
    if recipes.ndim != 3 or recipes.shape[0] != len(images) or recipes.shape[2] != 1 + ops.NUM_PARAMS:
        raise ValueError(f'expected ({len(images)}, MAX_OPS, {1 + ops.NUM_PARAMS}) recipes, got {tuple(recipes.shape)}')
    if not bool((recipes[:, 0, 0] == ops.RESIZED_CROP).all()):
        raise ValueError('every recipe starts with RESIZED_CROP')
    if recipes[:, 0, 5].unique().numel() != 1:
        raise ValueError(f'the recipes of one view differ in size: {recipes[:, 0, 5].unique().tolist()}')
    views = torch.cat([resized_crop(image, *(int(p) for p in recipe[0, 1:7]))
                       for image, recipe in zip(images, recipes)])
    for step in range(1, recipes.shape[1]):
        codes = recipes[:, step, 0].long()
        for code in codes.unique().tolist():
            if code == ops.NONE:
                continue
            if code not in OPERATIONS:
                raise ValueError(f'unknown operation code {code} at step {step} of a recipe')
            index = torch.nonzero(codes == code)[:, 0]
            on_device = index.to(views.device)
            views[on_device] = OPERATIONS[code](views[on_device], recipes[index, step, 1:])
    return views
