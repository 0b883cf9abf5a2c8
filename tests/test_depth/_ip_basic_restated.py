"""IP-Basic restated step by step on the full frame, as the published ``depth_map_utils.py`` (github
kujason/ip_basic) does it: boolean-mask assignments, per-column loops, no row bands. Used to pin that the
banded implementation of ``s3pt_mm.depth.ip_basic`` gives the same numbers bit for bit."""
import cv2
import numpy as np

F5, F7, F9, F31 = (np.ones((k, k), np.uint8) for k in (5, 7, 9, 31))
DIAMOND5 = np.array([[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]],
                    np.uint8)


def cross(size):
    kernel = np.zeros((size, size), np.uint8)
    kernel[size // 2] = kernel[:, size // 2] = 1
    return kernel


def invert(depth, max_depth):
    valid = depth > 0.1
    depth[valid] = max_depth - depth[valid]


def fast(depth, max_depth=100.0, extrapolate=False, blur_type='bilateral'):
    depth = np.array(depth, np.float32)
    invert(depth, max_depth)
    depth = cv2.morphologyEx(cv2.dilate(depth, DIAMOND5), cv2.MORPH_CLOSE, F5)
    empty = depth < 0.1
    depth[empty] = cv2.dilate(depth, F7)[empty]
    if extrapolate:
        top = np.argmax(depth > 0.1, axis=0)
        for col in range(depth.shape[1]):
            depth[:top[col], col] = depth[top[col], col]
        empty = depth < 0.1
        depth[empty] = cv2.dilate(depth, F31)[empty]
    depth = cv2.medianBlur(depth, 5)
    if blur_type == 'bilateral':
        depth = cv2.bilateralFilter(depth, 5, 1.5, 2.0)
    else:
        valid = depth > 0.1
        depth[valid] = cv2.GaussianBlur(depth, (5, 5), 0)[valid]
    invert(depth, max_depth)
    return depth


def top_mask(depth):
    mask = np.ones(depth.shape, bool)
    for col in range(depth.shape[1]):
        mask[:np.argmax(depth[:, col] > 0.1), col] = False
    return mask


def multiscale(depth, max_depth=100.0, extrapolate=False, blur_type='bilateral'):
    depth_in = np.array(depth, np.float32)
    bins = [(depth_in > 30.0, cross(3)), ((depth_in > 15.0) & (depth_in <= 30.0), cross(5)),
            ((depth_in > 0.1) & (depth_in <= 15.0), cross(7))]
    s1 = depth_in.copy()
    invert(s1, max_depth)
    s2 = s1.copy()
    for in_bin, kernel in bins:
        dilated = cv2.dilate(s1 * in_bin, kernel)
        s2[dilated > 0.1] = dilated[dilated > 0.1]
    s3 = cv2.morphologyEx(s2, cv2.MORPH_CLOSE, F5)
    s4 = s3.copy()
    s4[s3 > 0.1] = cv2.medianBlur(s3, 5)[s3 > 0.1]
    empty = (s4 <= 0.1) & top_mask(s4)
    s5 = s4.copy()
    s5[empty] = cv2.dilate(s4, F9)[empty]
    s7 = s5.copy()
    if extrapolate:
        top = np.argmax(s5 > 0.1, axis=0)
        for col in range(s7.shape[1]):
            s7[:top[col], col] = s5[top[col], col]
        mask = np.ones(s7.shape, bool)
    else:
        mask = top_mask(s5)
    for _ in range(6):
        empty = (s7 < 0.1) & mask
        s7[empty] = cv2.dilate(s7, F5)[empty]
    valid = (s7 > 0.1) & mask
    s7[valid] = cv2.medianBlur(s7, 5)[valid]
    if blur_type == 'gaussian':
        valid = (s7 > 0.1) & mask
        s7[valid] = cv2.GaussianBlur(s7, (5, 5), 0)[valid]
    else:
        s7[valid] = cv2.bilateralFilter(s7, 5, 0.5, 2.0)[valid]
    invert(s7, max_depth)
    return s7
