"""IP-Basic against outputs of the published implementation, plus its invariants.

``tests/data/ip_basic_reference.npz`` holds two LiDAR-like sparse maps (90x160 and 64x120: scan rows
every third row in the lower two thirds, piecewise-constant depths of 2-90 m with 30 % dropouts) and the
outputs of the published ``ip_basic/depth_map_utils.py`` (github kujason/ip_basic; run with numpy 1.26
after replacing its removed ``np.bool`` alias by ``bool``) for both functions, ``extrapolate`` False/True
and both blur types, max_depth 100. Keys: ``<map>_input`` and ``<map>_<fast|multiscale>_<noextrap|extrap>_
<bilateral|gaussian>``.
"""
from pathlib import Path

import numpy as np
import pytest

from s3pt_mm.depth import fill_in_fast, fill_in_multiscale

REFERENCE = np.load(Path(__file__).parent / 'data' / 'ip_basic_reference.npz')
FUNCTIONS = {'fast': fill_in_fast, 'multiscale': fill_in_multiscale}
CASES = [k for k in REFERENCE.files if not k.endswith('_input')]


@pytest.mark.parametrize('key', CASES)
def test_matches_published_implementation(key):
    name, function, extrapolate, blur = key.split('_')
    sparse = REFERENCE[f'{name}_input']
    dense = FUNCTIONS[function](sparse, extrapolate=extrapolate == 'extrap', blur_type=blur)
    assert dense.dtype == np.float32 and dense.shape == sparse.shape
    np.testing.assert_array_equal(dense, REFERENCE[key])  # bit for bit


@pytest.mark.parametrize('function', [fill_in_fast, fill_in_multiscale])
def test_input_untouched_and_properties(function):
    sparse = REFERENCE['a_input']
    before = sparse.copy()
    dense = function(sparse, extrapolate=True)
    np.testing.assert_array_equal(sparse, before)
    assert (dense > 0).all()  # extrapolated: every pixel gets a depth
    assert dense.max() <= 100.0
    # completion stays within the range of the measured depths (up to the final smoothing)
    measured = sparse[sparse > 0]
    assert dense.min() >= measured.min() - 0.5 and dense.max() <= measured.max() + 0.5
    # without extrapolation the sky above the highest return of a column stays empty
    dense = function(sparse, extrapolate=False)
    top_measured_row = np.argmax((sparse > 0).any(axis=1))
    assert (dense[:max(top_measured_row - 10, 0)] == 0).all()


def test_near_points_occlude_far_ones():
    """The inversion makes dilation prefer near depths: a near object's returns spread over the far
    background around it, not the other way round."""
    sparse = np.zeros((40, 40), np.float32)
    sparse[::2, ::2] = 50.0  # far background
    sparse[19:22, 19:22] = 5.0  # a small near object
    dense = fill_in_fast(sparse)
    assert dense[20, 20] == pytest.approx(5.0, abs=0.01)
    # the near depth takes over a 2-pixel margin that the background also reaches
    assert dense[18, 20] == pytest.approx(5.0, abs=0.01) and dense[20, 22] == pytest.approx(5.0, abs=0.01)
    assert dense[10, 10] == pytest.approx(50.0, abs=0.01)


@pytest.mark.parametrize('bad,match', [
    (np.zeros((4, 4, 1), np.float32), '2-D'),
    (np.array([[1.0, np.nan]], np.float32), 'non-finite'),
    (np.array([[1.0, -2.0]], np.float32), 'negative'),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        fill_in_fast(bad)
    with pytest.raises(ValueError, match=match):
        fill_in_multiscale(bad)


def test_bad_parameters():
    with pytest.raises(ValueError, match='blur_type'):
        fill_in_fast(REFERENCE['a_input'], blur_type='box')
    with pytest.raises(ValueError, match='max_depth'):
        fill_in_multiscale(REFERENCE['a_input'], max_depth=0)


def test_show_process_returns_the_stages():
    dense, process = fill_in_multiscale(REFERENCE['b_input'], show_process=True)
    assert list(process)[0] == 's0_depths_in' and list(process)[-1] == 's8_inverted_depths'
    np.testing.assert_array_equal(process['s8_inverted_depths'], dense)
    # s1 is the input with its depths > 0.1 inverted (rebuilt from the non-zero pixels the bins work on)
    sparse = REFERENCE['b_input'].astype(np.float32)
    np.testing.assert_array_equal(process['s1_inverted_depths'],
                                  np.where(sparse > 0.1, np.float32(100.0) - sparse, sparse))
    for name, stage in process.items():  # every stage is a full frame of its own, not a shared buffer
        assert stage.shape == sparse.shape and stage.base is None, name


def _banding_frames():
    """Sparse maps that exercise the row bands: scan lines in two far-apart groups, a return in the top
    row and ones beyond max_depth, values at or below the 0.1 m "empty" threshold, empty columns, data
    down to the bottom row, a single return, an empty map and a dense one."""
    rng = np.random.default_rng(7)
    two_groups = np.zeros((160, 120), np.float32)
    two_groups[8:30:7] = rng.gamma(2.0, 10.0, (4, 120))
    two_groups[100:160:9] = rng.gamma(2.0, 30.0, (7, 120)) * (rng.random((7, 120)) < 0.6)
    edges = two_groups.copy()
    edges[0, 10:40] = 150.0
    edges[70, ::4] = 0.05
    edges[:, 100:] = 0
    edges[159, :] = 4.0
    single = np.zeros((80, 90), np.float32)
    single[40, 30] = 12.0
    # depths on and next to the thresholds: the 0.1 m "empty" limit, the 15 / 30 m bins of the multiscale
    # dilation and (for max_depth 100 / 20) depths whose inversion lands on 0.1 or 0
    on_limits = np.zeros((50, 64), np.float32)
    limits = np.array([0.1, 15.0, 30.0, 99.9, 100.0, 19.9, 20.0], np.float32)
    near = np.concatenate([np.nextafter(limits, np.float32(0)), limits, np.nextafter(limits, np.float32(200))])
    on_limits[20:44:3, ::3] = rng.choice(near, (8, 22))
    return dict(two_groups=two_groups, edges=edges, single=single, empty=np.zeros((40, 50), np.float32),
                dense=(rng.random((60, 70)) * 120).astype(np.float32), on_limits=on_limits)


@pytest.mark.parametrize('frame', sorted(_banding_frames()))
@pytest.mark.parametrize('function', ['fast', 'multiscale'])
def test_same_numbers_as_the_full_frame_restatement(frame, function):
    from ._ip_basic_restated import fast, multiscale
    sparse = _banding_frames()[frame]
    ours, restated = FUNCTIONS[function], dict(fast=fast, multiscale=multiscale)[function]
    for max_depth in (100.0, 20.0):
        for extrapolate in (False, True):
            for blur in ('bilateral', 'gaussian'):
                np.testing.assert_array_equal(
                    ours(sparse, max_depth=max_depth, extrapolate=extrapolate, blur_type=blur),
                    restated(sparse, max_depth=max_depth, extrapolate=extrapolate, blur_type=blur),
                    err_msg=f'{frame} max_depth={max_depth} extrapolate={extrapolate} {blur}')


def test_top_rows_scan_in_blocks_is_argmax_down_each_column():
    """The block-wise scan for each column's highest valid pixel against ``argmax`` down whole columns:
    tops in the first block, in later blocks and on block edges, empty columns (row 0) and values at the
    0.1 m threshold (not valid)."""
    from s3pt_mm.depth.ip_basic import _above_top, _top_rows
    rng = np.random.default_rng(3)
    top = rng.integers(1, 37, 150)  # each column's highest return, then more returns below it
    depths = (rng.random((37, 200)) < 0.3) * rng.uniform(0.2, 50.0, (37, 200))
    depths = (depths * (np.arange(37)[:, None] > np.r_[top, np.zeros(50, int)])).astype(np.float32)
    depths[top, np.arange(150)] = 7.0
    depths[:, 150:] = 0  # empty columns
    depths[5, 10:20] = 0.1  # at the threshold: empty
    depths[8, 20:30] = np.nextafter(np.float32(0.1), np.float32(1))
    expected = np.argmax(depths > 0.1, axis=0)
    assert 0 < expected[:150].min() and expected.max() > 12  # tops inside several blocks
    for block in (1, 4, 8, 32, 64):
        np.testing.assert_array_equal(_top_rows(depths, block=block), expected, err_msg=f'block {block}')
    above = np.arange(depths.shape[0])[:, None] < expected[None, :]
    np.testing.assert_array_equal(_above_top(depths), above)
