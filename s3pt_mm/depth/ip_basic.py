"""IP-Basic depth completion (Ku, Harakeh and Waslander, "In Defense of Classical Image Processing: Fast
Depth Completion on the CPU", CRV 2018), as S3PT uses it to densify projected LiDAR (paper §4.1).

Both functions take a float32 sparse depth map in metres (0 = no return) and return a NEW dense float32
map; the input is never modified. They give the same numbers as the published algorithm for the same
parameters, bit for bit (``tests/test_depth/test_ip_basic.py`` compares with outputs of the published
implementation and with the full-frame restatement ``tests/test_depth/_ip_basic_restated.py``), with its
per-column Python loops replaced by vectorised numpy.

The algorithm works on *inverted* depths ``max_depth - d``, so that the morphological max filters
(dilations) prefer near points over far ones: a near object occludes what lies behind it.

Speed. Every step is a local filter (a pixel's value depends on a few rows around it) or a per-column
scan, and a window of zeros stays zero under all of them. A LiDAR map is empty above the highest scan
line and, early in the pipeline, between the scan lines; so the work is done on the rows that can become
non-zero only:

* the whole pipeline runs on the band of rows from ``margin`` rows above the first non-zero input row to
  ``margin`` rows below the last one, ``margin`` being more than the distance by which all the filters
  together can spread a value (or from the top of the image when extrapolating); rows outside stay 0;
* the median, bilateral and gaussian filters (:func:`_banded`) are applied only to the runs of rows
  whose result is used (within the radius of a non-zero row, or holding a pixel that takes it),
  read with ``radius`` rows of real context around each run, all runs stacked into one array for a
  single OpenCV call. A row's result only depends on rows within the radius, so it is the same as on the
  full frame; the only global input, the value range that OpenCV's float bilateral filter scales its
  lookup table by, is checked to be the same, else the filter runs on the whole band;
* the inversion of the input and the multiscale variant's depth bins touch only the input's non-zero
  pixels (:func:`_points`), and the intermediate maps live in per-thread buffers kept between calls
  (:func:`_scratch`), written in place, the last stages directly in the output's band;
* masked assignments are OpenCV masked copies (:func:`_fill_where`), and each column's highest valid
  pixel is found by scanning blocks of rows from the top (:func:`_top_rows`), not whole columns.
"""
import threading

import cv2
import numpy as np

__all__ = ['fill_in_fast', 'fill_in_multiscale']

_EMPTY = 0.1  # metres: values at or below this are "no depth"

FULL_KERNEL_5 = np.ones((5, 5), np.uint8)
FULL_KERNEL_7 = np.ones((7, 7), np.uint8)
FULL_KERNEL_9 = np.ones((9, 9), np.uint8)
FULL_KERNEL_31 = np.ones((31, 31), np.uint8)


def _cross(size):
    kernel = np.zeros((size, size), np.uint8)
    kernel[size // 2, :] = 1
    kernel[:, size // 2] = 1
    return kernel


def _diamond(size):
    r = size // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return (np.abs(x) + np.abs(y) <= r).astype(np.uint8)


CROSS_KERNEL_3, CROSS_KERNEL_5, CROSS_KERNEL_7 = _cross(3), _cross(5), _cross(7)
DIAMOND_KERNEL_5 = _diamond(5)

_BLUR_TYPES = ('bilateral', 'gaussian')

# Rows by which the whole pipeline can spread a non-zero value (sum of the filter radii: close counts
# twice), plus the largest radius: the band margin (see the module docstring).
_FAST_MARGIN = (2 + 4 + 3 + 2 + 2) + 4
_MULTISCALE_MARGIN = (3 + 4 + 2 + 4 + 6 * 2 + 2 + 2) + 4


def _validated(depth_map, max_depth, blur_type):
    """The input as an array, after checking it is a usable sparse depth map."""
    depth_map = np.asarray(depth_map)
    if depth_map.ndim != 2:
        raise ValueError(f'depth_map must be a 2-D (H, W) array, got shape {depth_map.shape}')
    if not np.issubdtype(depth_map.dtype, np.number):
        raise ValueError(f'depth_map must be numeric, got dtype {depth_map.dtype}')
    if not max_depth > 0:
        raise ValueError(f'max_depth must be > 0, got {max_depth}')
    if blur_type not in _BLUR_TYPES:
        raise ValueError(f'blur_type must be one of {_BLUR_TYPES}, got {blur_type!r}')
    if depth_map.size and not (depth_map.min() >= 0 and depth_map.max() < np.inf):  # one pass each
        if not np.isfinite(depth_map).all():
            raise ValueError(f'depth_map has {int((~np.isfinite(depth_map)).sum())} non-finite values '
                             '(NaN/inf); use 0 for pixels without depth')
        raise ValueError(f'depth_map has negative depths (min {float(depth_map.min())}); '
                         'use 0 for pixels without depth')
    return depth_map


_SCRATCH = threading.local()


def _scratch(shape, slot=0):
    """Float32 work array number ``slot`` of ``shape``, kept between calls (per thread): a fresh array of
    a frame's size costs a page fault per 4 KiB on first use, a good part of the run time. Never returned
    to the caller."""
    buffers = _SCRATCH.__dict__.setdefault('buffers', {})
    size = shape[0] * shape[1]
    if slot not in buffers or buffers[slot].size < size:
        buffers[slot] = np.empty(size, np.float32)
    return buffers[slot][:size].reshape(shape)


def _row_band(depth_map, margin, from_top):
    """Rows ``[start, stop)`` outside which the completed map is certainly 0 (one row of an empty map)."""
    rows = np.flatnonzero(depth_map.any(axis=1))
    if rows.size == 0:
        return 0, min(depth_map.shape[0], 1)
    start = 0 if from_top else max(int(rows[0]) - margin, 0)
    return start, min(int(rows[-1]) + 1 + margin, depth_map.shape[0])


def _banded(op, image, radius, rows=None, same_range=False, dst=None):
    """``op(image)`` on the rows ``rows`` only (0 on the others), for a row-local filter ``op`` of row
    radius ``radius``: the runs of those rows are read with ``radius`` rows of context each, stacked, and
    filtered in one call. Falls back to ``op(image)`` when that would not save much. ``op(src, dst)``
    writes into ``dst`` when it is given (an array like ``image``, not ``image`` itself), as OpenCV does.

    Args:
        rows (np.ndarray | None): (H,) bool, the rows whose result is used; by default the rows within
            ``radius`` of a non-zero row, which is all the rows where ``op`` can be non-zero when it maps
            an all-zero window to 0 (as every filter here does).
        same_range (bool): ``op`` also depends on the min and max of its whole input (OpenCV's float
            bilateral filter): run on the whole image unless the stacked rows have the same min and max.
    """
    height = image.shape[0]
    if rows is None:
        rows = _grow_rows(image.any(axis=1), radius)
    index = np.flatnonzero(rows)
    if dst is None:
        dst = np.empty_like(image)
    if index.size == 0:
        dst.fill(0)
        return dst
    # runs of used rows; runs whose context would overlap are merged
    gaps = np.flatnonzero(np.diff(index) > 2 * radius + 1)
    starts, stops = index[np.r_[0, gaps + 1]], index[np.r_[gaps, index.size - 1]] + 1
    lows, highs = np.maximum(starts - radius, 0), np.minimum(stops + radius, height)
    if (highs - lows).sum() > 0.8 * height:
        return op(image, dst)
    if len(starts) == 1:
        context = image[lows[0]:highs[0]]
    else:
        context = image[np.concatenate([np.arange(low, high) for low, high in zip(lows, highs)])]
    if same_range and (context.min() != image.min() or context.max() != image.max()):
        return op(image, dst)
    result = op(context, None)
    offset, done = 0, 0
    for start, stop, low, high in zip(starts, stops, lows, highs):
        dst[done:start] = 0
        dst[start:stop] = result[offset + start - low:offset + stop - low]
        offset, done = offset + high - low, stop
    dst[done:] = 0
    return dst


def _grow_rows(rows, radius):
    """(H,) bool: the rows within ``radius`` of a True row."""
    grown = rows.copy()
    for shift in range(1, radius + 1):
        grown[shift:] |= rows[:-shift]
        grown[:-shift] |= rows[shift:]
    return grown


def _close5(image, dst=None):
    return cv2.morphologyEx(image, cv2.MORPH_CLOSE, FULL_KERNEL_5, dst=dst)


def _median5(image, dst=None):
    return cv2.medianBlur(image, 5, dst=dst)


def _gaussian5(image, dst=None):
    return cv2.GaussianBlur(image, (5, 5), 0, dst=dst)


def _bilateral(sigma_color):
    return lambda image, dst=None: cv2.bilateralFilter(image, 5, sigma_color, 2.0, dst=dst)


def _invert(depths, max_depth):
    """``max_depth - d`` on valid pixels, in place (the inversion is its own inverse)."""
    np.subtract(np.float32(max_depth), depths, out=depths, where=depths > _EMPTY)
    return depths


def _points(band, max_depth):
    """The non-zero pixels of a sparse map: (flat indices, float32 depths, inverted depths). A projected
    LiDAR map has depth at well under 1 % of its pixels, so the inversion and the multiscale depth bins
    work on these only."""
    points = np.flatnonzero(band != 0)
    depths = band.ravel()[points].astype(np.float32)
    return points, depths, _invert(depths.copy(), max_depth)


def _top_rows(depths, block=32):
    """(W,) row of the highest valid pixel of each column (0 for an empty column).

    Scans blocks of ``block`` rows from the top and stops once every column has its row: the highest
    valid pixels of a completed map lie a few scan lines below the band's first row, so an ``argmax``
    down whole columns (a strided pass over the band) would mostly read rows below them."""
    height, width = depths.shape
    top = np.zeros(width, np.intp)
    found = np.zeros(width, bool)
    for start in range(0, height, block):
        valid = depths[start:start + block] > _EMPTY
        hit = valid.any(axis=0) & ~found
        if hit.any():
            top[hit] = start + np.argmax(valid[:, hit], axis=0)
            found |= hit
            if found.all():
                break
    return top


def _rows_above(top, height):
    """(height, W) mask of the pixels above row ``top[j]`` in each column j of ``top`` (W,)."""
    above = np.zeros((height, top.size), bool)
    rows = int(top.max(initial=0))  # the rows below hold no pixel above its column's top
    np.less(np.arange(rows)[:, None], top[None, :], out=above[:rows])
    return above


def _above_top(depths):
    """(H, W) mask of the pixels above the highest valid pixel of their column."""
    return _rows_above(_top_rows(depths), depths.shape[0])


def _extend_to_top(depths):
    """Copy each column's highest valid value up to the top of the image, in place."""
    top = _top_rows(depths)
    top_values = depths[top, np.arange(depths.shape[1])]
    np.copyto(depths, np.broadcast_to(top_values, depths.shape), where=_rows_above(top, depths.shape[0]))
    return depths


def _fill_where(depths, mask, values):
    """``depths[mask] = values[mask]``, in place; ``mask`` is an (H, W) bool array. OpenCV's masked copy
    reads the bools as bytes (no copy) and is several times faster than numpy's ``copyto(where=)``."""
    cv2.copyTo(values, mask.view(np.uint8), depths)
    return depths


def _in_frame(band, start, shape):
    """The full (H, W) map of a band of rows starting at row ``start`` (0 elsewhere)."""
    if band.shape == shape:
        return band
    full = np.zeros(shape, np.float32)
    full[start:start + band.shape[0]] = band
    return full


def fill_in_fast(depth_map, max_depth=100.0, extrapolate=False, blur_type='bilateral'):
    """Fast IP-Basic: diamond dilation, closing, hole filling, optional extrapolation, blurs.

    Args:
        depth_map (np.ndarray): (H, W) sparse depth in metres, 0 = no return.
        max_depth (float): depth used for the inversion ``max_depth - d`` (metres).
        extrapolate (bool): extend the highest depth of each column to the top of the image and fill
            the remaining holes with a 31x31 dilation.
        blur_type (str): ``'bilateral'`` (keeps edges) or ``'gaussian'`` (lower RMSE).

    Returns:
        np.ndarray: (H, W) float32 dense depth in metres (0 where nothing was filled).
    """
    depth_map = _validated(depth_map, max_depth, blur_type)
    start, stop = _row_band(depth_map, _FAST_MARGIN + (15 if extrapolate else 0), extrapolate)
    out = np.zeros(depth_map.shape, np.float32)
    # two buffers for the whole pipeline; `depths` is the band of the output
    depths, other = out[start:stop], _scratch((stop - start, depth_map.shape[1]))
    points, _, inverted = _points(depth_map[start:stop], max_depth)
    depths.ravel()[points] = inverted
    cv2.dilate(depths, DIAMOND_KERNEL_5, dst=other)
    _close5(other, dst=depths)
    _fill_where(depths, depths < _EMPTY, cv2.dilate(depths, FULL_KERNEL_7, dst=other))
    if extrapolate:
        _extend_to_top(depths)
        _fill_where(depths, depths < _EMPTY, cv2.dilate(depths, FULL_KERNEL_31, dst=other))
    _banded(_median5, depths, 2, dst=other)
    if blur_type == 'bilateral':
        _banded(_bilateral(1.5), other, 2, same_range=True, dst=depths)
    else:  # blurred where the median is valid, the median elsewhere
        valid = other > _EMPTY
        _banded(_gaussian5, other, 2, rows=valid.any(axis=1), dst=depths)
        _fill_where(depths, ~valid, other)
    _invert(depths, max_depth)
    return out


def fill_in_multiscale(depth_map, max_depth=100.0, extrapolate=False, blur_type='bilateral',
                       show_process=False):
    """Multi-scale IP-Basic: dilation kernels by depth bin, outlier removal, masked large-hole filling.

    Near points (<= 15 m) are dilated with a 7x7 cross, medium (15-30 m) with a 5x5 cross and far ones
    (> 30 m) with a 3x3 cross, nearer bins overwriting farther ones; then closing, median blur, hole
    filling below the highest valid pixel of each column, optional extrapolation to the top, six masked
    5x5 dilations, median and bilateral/gaussian blurs.

    Args:
        depth_map (np.ndarray): (H, W) sparse depth in metres, 0 = no return.
        max_depth (float): depth used for the inversion (metres).
        extrapolate (bool): extend the highest depth of each column to the top of the image;
            otherwise the region above it stays empty.
        blur_type (str): ``'bilateral'`` or ``'gaussian'``.
        show_process (bool): also return the intermediate maps (inverted depths, as the published
            implementation names them ``s1`` ... ``s8``).

    Returns:
        np.ndarray | tuple[np.ndarray, dict]: (H, W) float32 dense depth in metres, and the dict of
        intermediate maps when ``show_process``.
    """
    depth_map = _validated(depth_map, max_depth, blur_type)
    start, stop = _row_band(depth_map, _MULTISCALE_MARGIN, extrapolate)
    stage = (lambda a: a.copy()) if show_process else (lambda a: a)  # keep the stages apart if shown
    shape = (stop - start, depth_map.shape[1])
    points, depths, inverted = _points(depth_map[start:stop], max_depth)

    # The published order (far, medium, near bins, each overwriting where its dilation is > 0.1) keeps
    # the largest of the three dilations where it is > 0.1: inverted near depths are >= medium >= far
    # ones, and a dilation > 0.1 is a depth of its bin.
    dilated, masked, bin_dilated = _scratch(shape, 0), _scratch(shape, 1), _scratch(shape, 2)
    masked.fill(0)
    for low, high, kernel in ((30.0, None, CROSS_KERNEL_3), (15.0, 30.0, CROSS_KERNEL_5),
                              (_EMPTY, 15.0, CROSS_KERNEL_7)):
        in_bin = depths > low if high is None else (depths > low) & (depths <= high)
        masked.ravel()[points[in_bin]] = inverted[in_bin]
        if high is None:
            cv2.dilate(masked, kernel, dst=dilated)
        else:
            cv2.max(dilated, cv2.dilate(masked, kernel, dst=bin_dilated), dst=dilated)
        masked.ravel()[points[in_bin]] = 0  # zero again for the next bin
    # s2: the dilation where it is > 0.1, else the inverted input (0 outside its points)
    s2 = cv2.threshold(dilated, _EMPTY, 0, cv2.THRESH_TOZERO, dst=None if show_process else bin_dilated)[1]
    undilated = dilated.ravel()[points] <= _EMPTY
    s2.ravel()[points[undilated]] = inverted[undilated]

    out = None if show_process else np.zeros(depth_map.shape, np.float32)
    s3 = _close5(s2, dst=None if out is None else out[start:stop])  # from here on the output's band
    valid = s3 > _EMPTY
    s4 = _fill_where(stage(s3), valid, _banded(_median5, s3, 2, rows=valid.any(axis=1), dst=masked))

    empty_below_top = (s4 <= _EMPTY) & ~_above_top(s4)
    s5 = _fill_where(stage(s4), empty_below_top, cv2.dilate(s4, FULL_KERNEL_9, dst=dilated))

    s6 = stage(s5)
    if extrapolate:
        _extend_to_top(s6)
        fillable = None
    else:
        fillable = ~_above_top(s5)

    s7 = stage(s6)
    empty = np.empty(shape, bool)
    for _ in range(6):
        np.less(s7, _EMPTY, out=empty)
        if fillable is not None:
            empty &= fillable
        _fill_where(s7, empty, cv2.dilate(s7, FULL_KERNEL_5, dst=dilated))
    valid = s7 > _EMPTY if fillable is None else (s7 > _EMPTY) & fillable
    valid_rows = valid.any(axis=1)
    _fill_where(s7, valid, _banded(_median5, s7, 2, rows=valid_rows, dst=masked))
    if blur_type == 'gaussian':
        valid = s7 > _EMPTY if fillable is None else (s7 > _EMPTY) & fillable
        _fill_where(s7, valid, _banded(_gaussian5, s7, 2, rows=valid.any(axis=1), dst=masked))
    else:
        _fill_where(s7, valid, _banded(_bilateral(0.5), s7, 2, rows=valid_rows, same_range=True, dst=masked))

    if not show_process:
        _invert(s7, max_depth)
        return out
    depths_out = _in_frame(_invert(s7.copy(), max_depth), start, depth_map.shape)
    process = dict(s0_depths_in=np.array(depth_map, dtype=np.float32))
    s1 = np.zeros(shape, np.float32)
    s1.ravel()[points] = inverted
    for name, band in (('s1_inverted_depths', s1), ('s2_dilated_depths', s2), ('s3_closed_depths', s3),
                       ('s4_blurred_depths', s4), ('s5_combined_depths', s5), ('s6_extended_depths', s6),
                       ('s7_blurred_depths', s7)):
        process[name] = _in_frame(band, start, depth_map.shape)
    process['s8_inverted_depths'] = depths_out
    return depths_out, process
