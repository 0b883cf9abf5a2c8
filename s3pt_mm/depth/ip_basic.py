"""IP-Basic depth completion (Ku, Harakeh and Waslander, "In Defense of Classical Image Processing: Fast
Depth Completion on the CPU", CRV 2018), as S3PT uses it to densify projected LiDAR (paper §4.1).

Both functions take a float32 sparse depth map in metres (0 = no return) and return a NEW dense float32
map; the input is never modified. They reproduce the numbers of the published algorithm for the same
parameters (``tests/test_depth/test_ip_basic.py`` compares against outputs of the published implementation), with
its per-column Python loops replaced by vectorised numpy.

The algorithm works on *inverted* depths ``max_depth - d``, so that the morphological max filters
(dilations) prefer near points over far ones: a near object occludes what lies behind it.
"""
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


def _validated_copy(depth_map, max_depth, blur_type):
    """float32 copy of the input, after checking it is a usable sparse depth map."""
    depth_map = np.asarray(depth_map)
    if depth_map.ndim != 2:
        raise ValueError(f'depth_map must be a 2-D (H, W) array, got shape {depth_map.shape}')
    if not np.issubdtype(depth_map.dtype, np.number):
        raise ValueError(f'depth_map must be numeric, got dtype {depth_map.dtype}')
    if not np.isfinite(depth_map).all():
        raise ValueError(f'depth_map has {int((~np.isfinite(depth_map)).sum())} non-finite values '
                         '(NaN/inf); use 0 for pixels without depth')
    if (depth_map < 0).any():
        raise ValueError(f'depth_map has negative depths (min {float(depth_map.min())}); '
                         'use 0 for pixels without depth')
    if not max_depth > 0:
        raise ValueError(f'max_depth must be > 0, got {max_depth}')
    if blur_type not in _BLUR_TYPES:
        raise ValueError(f'blur_type must be one of {_BLUR_TYPES}, got {blur_type!r}')
    return np.array(depth_map, dtype=np.float32, copy=True)


def _invert(depths, max_depth):
    """``max_depth - d`` on valid pixels, in place (the inversion is its own inverse)."""
    np.subtract(np.float32(max_depth), depths, out=depths, where=depths > _EMPTY)
    return depths


def _top_rows(depths):
    """(W,) row of the highest valid pixel of each column (0 for an empty column)."""
    return np.argmax(depths > _EMPTY, axis=0)


def _above_top(depths):
    """(H, W) mask of the pixels above the highest valid pixel of their column."""
    return np.arange(depths.shape[0])[:, None] < _top_rows(depths)[None, :]


def _extend_to_top(depths):
    """Copy each column's highest valid value up to the top of the image, in place."""
    top = _top_rows(depths)
    top_values = depths[top, np.arange(depths.shape[1])]
    above = np.arange(depths.shape[0])[:, None] < top[None, :]
    np.copyto(depths, np.broadcast_to(top_values, depths.shape), where=above)
    return depths


def _fill_where(depths, mask, values):
    np.copyto(depths, values, where=mask)
    return depths


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
    depths = _invert(_validated_copy(depth_map, max_depth, blur_type), max_depth)
    depths = cv2.dilate(depths, DIAMOND_KERNEL_5)
    depths = cv2.morphologyEx(depths, cv2.MORPH_CLOSE, FULL_KERNEL_5)
    _fill_where(depths, depths < _EMPTY, cv2.dilate(depths, FULL_KERNEL_7))
    if extrapolate:
        _extend_to_top(depths)
        _fill_where(depths, depths < _EMPTY, cv2.dilate(depths, FULL_KERNEL_31))
    depths = cv2.medianBlur(depths, 5)
    if blur_type == 'bilateral':
        depths = cv2.bilateralFilter(depths, 5, 1.5, 2.0)
    else:
        _fill_where(depths, depths > _EMPTY, cv2.GaussianBlur(depths, (5, 5), 0))
    return _invert(depths, max_depth)


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
    depths_in = _validated_copy(depth_map, max_depth, blur_type)
    near = (depths_in > _EMPTY) & (depths_in <= 15.0)
    medium = (depths_in > 15.0) & (depths_in <= 30.0)
    far = depths_in > 30.0
    s1 = _invert(depths_in.copy(), max_depth)

    s2 = s1.copy()
    for mask, kernel in ((far, CROSS_KERNEL_3), (medium, CROSS_KERNEL_5), (near, CROSS_KERNEL_7)):
        dilated = cv2.dilate(s1 * mask, kernel)
        _fill_where(s2, dilated > _EMPTY, dilated)

    s3 = cv2.morphologyEx(s2, cv2.MORPH_CLOSE, FULL_KERNEL_5)
    s4 = _fill_where(s3.copy(), s3 > _EMPTY, cv2.medianBlur(s3, 5))

    empty_below_top = (s4 <= _EMPTY) & ~_above_top(s4)
    s5 = _fill_where(s4.copy(), empty_below_top, cv2.dilate(s4, FULL_KERNEL_9))

    s6 = s5.copy()
    if extrapolate:
        _extend_to_top(s6)
        fillable = np.ones(s6.shape, bool)
    else:
        fillable = ~_above_top(s5)

    s7 = s6.copy()
    for _ in range(6):
        _fill_where(s7, (s7 < _EMPTY) & fillable, cv2.dilate(s7, FULL_KERNEL_5))
    valid = (s7 > _EMPTY) & fillable
    _fill_where(s7, valid, cv2.medianBlur(s7, 5))
    if blur_type == 'gaussian':
        _fill_where(s7, (s7 > _EMPTY) & fillable, cv2.GaussianBlur(s7, (5, 5), 0))
    else:
        _fill_where(s7, valid, cv2.bilateralFilter(s7, 5, 0.5, 2.0))

    depths_out = _invert(s7.copy(), max_depth)
    if not show_process:
        return depths_out
    process = dict(s0_depths_in=depths_in, s1_inverted_depths=s1, s2_dilated_depths=s2,
                   s3_closed_depths=s3, s4_blurred_depths=s4, s5_combined_depths=s5,
                   s6_extended_depths=s6, s7_blurred_depths=s7, s8_inverted_depths=depths_out)
    return depths_out, process
