"""An image and its depth map as a pre-training sample reads them: once, then cut into views.

A view of the pre-training pipeline is a 224x224 (or 96x96) crop of a 900x1600 camera frame, shrunk 2-6x. Three
things a worker can skip without changing a view:

* decoding the JPEG at full resolution when every crop of the sample is shrunk at least 2x (4x, 8x): libjpeg
  decodes at 1/2 (1/4, 1/8) of the size from the DCT coefficients directly (PIL's ``draft``), and each view
  is resampled from there (:meth:`ImageForCrops.resized_crop`);
* copying the frame per view: the views resample from the one decoded frame, with a box in its coordinates
  (torch's uint8 anti-aliased resampling, PIL's filters in fixed point as PIL computes them, where the box
  falls on the decoded pixels; PIL's own resampling, which takes fractional boxes, where it does not);
* upsampling the depth map to the image size: it stays as stored (uint16, ``1 / factor`` of the image size) and
  each view reads the stored pixels its nearest-neighbour resize picks (:meth:`DepthForCrops.resized_crop`),
  which are exactly the pixels the full-size path picks.

Both objects give the frame's ``shape`` in original pixels, and ``to_array()`` for transforms that need the
whole frame as an array.
"""
import io
import math
from typing import Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ...utils.deferred_view import TORCH_RESAMPLING

# JPEG's DCT scaling factors (libjpeg decodes at 1/2, 1/4, 1/8 without the full-size pixels)
DCT_REDUCTIONS = (8, 4, 2, 1)


def nearest_exact_index(in_size: int, out_size: int) -> np.ndarray:
    """The source index of each of ``out_size`` output pixels of OpenCV's ``INTER_NEAREST_EXACT`` resize from
    ``in_size`` pixels (pixel centres mapped: ``floor((i + 0.5) * in_size / out_size)``, in OpenCV's own
    fixed-point arithmetic, obtained from OpenCV itself by resizing the indices)."""
    indices = np.arange(in_size, dtype=np.float32)[None, :]  # exact below 2**24
    return cv2.resize(indices, (out_size, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0].astype(np.intp)


class ImageForCrops:
    """An image file's bytes and size; decoded once, at the reduction its crops allow.

    Args:
        data (bytes): the file's content (JPEG, PNG or any format PIL reads).
        path (str): the file, for messages.
        max_reduction (int): largest DCT reduction used (1 = always decode at full size).

    Attributes:
        data (bytes): the file's content (what ``MultiViewWithDepth(render='device')`` sends to the device).
        shape (tuple[int, int, int]): (H, W, 3) of the image in original pixels, after its EXIF orientation.
        orientation (int): the EXIF orientation (1 = none; 2-8 as PIL's ``ImageOps.exif_transpose`` reads it).
        reduction (int | None): the reduction it was decoded at (None before :meth:`decode`).
    """

    def __init__(self, data: bytes, path: str, max_reduction: int = 8):
        if max_reduction not in DCT_REDUCTIONS:
            raise ValueError(f'max_reduction must be one of {DCT_REDUCTIONS[::-1]}, got {max_reduction}')
        self.data, self.path, self.max_reduction = data, path, max_reduction
        try:  # reads the header only; the pixels are decoded by decode()
            self._file = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f'not a readable image: {path} ({error})') from error
        self.orientation = self._file.getexif().get(ExifTags.Base.Orientation, 1)
        width, height = self._file.size
        if self.orientation in (5, 6, 7, 8):  # a quarter turn
            width, height = height, width
        self.shape = (height, width, 3)
        self.reduction: Optional[int] = None
        self._image: Optional[Image.Image] = None
        self._pixels: Optional[torch.Tensor] = None  # the decoded image as (1, 3, h, w) uint8, for torch

    def decode(self, reduction: int = 1) -> None:
        """Decode at ``1 / reduction`` of the size (at most ``max_reduction``; JPEG only, other formats at
        full size). A second call does nothing."""
        if self._image is not None:
            return
        image = self._file
        reduction = min(reduction, self.max_reduction) if image.format == 'JPEG' else 1
        if reduction > 1:
            image.draft('RGB', (math.ceil(image.size[0] / reduction), math.ceil(image.size[1] / reduction)))
        try:
            image.load()
        except OSError as error:
            raise ValueError(f'cannot decode image {self.path}: {error}') from error
        if self.orientation != 1:
            image = ImageOps.exif_transpose(image)
        self._image = image if image.mode == 'RGB' else image.convert('RGB')
        self._file = None  # the decoded pixels are in _image
        self.reduction = round(self.shape[1] / self._image.size[0])

    def resized_crop(self, top: int, left: int, height: int, width: int, size: int,
                     resample: int) -> np.ndarray:
        """The crop ``[top, top + height) x [left, left + width)`` (original pixels) resized to ``size`` x
        ``size`` with PIL's ``resample`` filter (anti-aliased when shrinking): (size, size, 3) uint8 BGR.

        Where the crop's box falls on the decoded image's pixels (always at full size) and the filter is
        bilinear or bicubic, torch resamples the crop: its uint8 anti-aliased path computes PIL's kernels in
        fixed point, horizontal then vertical, within 1 level of PIL's resize of the crop and 4-5x faster.
        Otherwise (a box between the pixels of a reduced decode, or another filter) PIL resamples from the
        decoded image with the box in its coordinates: no copy of the crop, and the filter reads the image's
        pixels just outside the box where its support reaches them."""
        self.decode()
        r = self.reduction
        if resample in TORCH_RESAMPLING and top % r == left % r == height % r == width % r == 0:
            if self._pixels is None:  # (H, W, 3) -> (1, 3, H, W) in channels-last memory, as torch's path wants
                self._pixels = torch.from_numpy(np.array(self._image)).permute(2, 0, 1).unsqueeze(0)
            crop = self._pixels[:, :, top // r:(top + height) // r, left // r:(left + width) // r]
            view = F.interpolate(crop, size=(size, size), mode=TORCH_RESAMPLING[resample], antialias=True)
            return cv2.merge([view[0, c].numpy() for c in (2, 1, 0)])  # (3, s, s) RGB planes -> (s, s, 3) BGR
        box = (left / r, top / r, (left + width) / r, (top + height) / r)
        rgb = np.asarray(self._image.resize((size, size), resample, box=box))
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def to_array(self) -> np.ndarray:
        """The whole image, (H, W, 3) uint8 BGR at full size (as mmcv's ``LoadImageFromFile`` gives it)."""
        self.decode()
        if self.reduction != 1:
            raise RuntimeError(f'{self.path} was decoded at 1/{self.reduction} of its size, not at full size')
        return cv2.cvtColor(np.asarray(self._image), cv2.COLOR_RGB2BGR)


class DepthForCrops:
    """A depth map as stored: (h, w) uint16 PNG units at ``1 / factor`` of the image size.

    Args:
        raw (np.ndarray): (h, w) uint16, 0 = no depth.
        factor (int): image size / stored size (an integer >= 1).
        depth_scale (float): PNG units per metre.
    """

    def __init__(self, raw: np.ndarray, factor: int, depth_scale: float):
        self.raw, self.factor, self.depth_scale = raw, factor, np.float32(depth_scale)
        self.shape: Tuple[int, int] = (raw.shape[0] * factor, raw.shape[1] * factor)

    def resized_crop(self, top: int, left: int, height: int, width: int, size: int) -> np.ndarray:
        """The crop ``[top, top + height) x [left, left + width)`` of the full-size map resized to ``size`` x
        ``size`` by OpenCV's ``INTER_NEAREST_EXACT``: (size, size) float32 metres. Equal to resizing the
        crop of the upsampled map, without upsampling it."""
        rows = (top + nearest_exact_index(height, size)) // self.factor
        cols = (left + nearest_exact_index(width, size)) // self.factor
        return self.raw[rows[:, None], cols[None, :]].astype(np.float32) / self.depth_scale

    def to_array(self) -> np.ndarray:
        """The map upsampled to the image size by block copies: (H, W) float32 metres."""
        raw = np.repeat(np.repeat(self.raw, self.factor, axis=0), self.factor, axis=1) if self.factor > 1 \
            else self.raw
        return raw.astype(np.float32) / self.depth_scale
