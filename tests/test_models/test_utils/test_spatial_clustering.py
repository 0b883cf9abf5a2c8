"""Tests of s3pt_mm.models.utils.spatial_clustering: Sinkhorn-Knopp and the depth-guided joint-view spatial
clustering."""

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from s3pt_mm.models.utils.spatial_clustering import (_fill_undefined, _min_distance_to_members, sinkhorn,
                                                     spatial_clustering)


def grid(height, width, stride=16.0):
    """(1, height * width, 2) pixel positions of the patch centres of a height x width token grid, and
    the (height * width,) column index of every token."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing='ij')
    positions = torch.stack([xs, ys], dim=-1).reshape(1, -1, 2).float() * stride + stride / 2
    return positions, xs.reshape(-1)


def random_cost(batch=3, num_tokens=50, num_clusters=7, seed=0):
    return torch.rand(batch, num_tokens, num_clusters, generator=torch.Generator().manual_seed(seed),
                      dtype=torch.float64)


def test_sinkhorn_one_iteration_fixes_columns_not_rows():
    cost = random_cost()
    plan = sinkhorn(cost, num_iters=1, sinkhorn_lambda=20.0)
    torch.testing.assert_close(plan.sum(dim=1), torch.full((3, 7), 1 / 7, dtype=torch.float64))
    row_error = (plan.sum(dim=2) - 1 / 50).abs().max()
    assert row_error > 1e-3  # one iteration does not equalise the tokens' masses


def test_sinkhorn_converges_to_both_marginals():
    plan = sinkhorn(random_cost(), num_iters=200, sinkhorn_lambda=20.0)
    assert (plan.sum(dim=1) - 1 / 7).abs().max() < 1e-12  # the column step is last: exact
    assert (plan.sum(dim=2) - 1 / 50).abs().max() < 1e-4


def test_sinkhorn_honours_a_given_column_marginal():
    col = torch.tensor([[0.5, 0.3, 0.1, 0.05, 0.03, 0.01, 0.01]], dtype=torch.float64).expand(3, -1)
    plan = sinkhorn(random_cost(), num_iters=300, col_marginal=col)
    torch.testing.assert_close(plan.sum(dim=1), col)
    assert (plan.sum(dim=2) - 1 / 50).abs().max() < 1e-4


def test_sinkhorn_matches_plain_kernel_scaling():
    """Same plan as the textbook (CrIBo) iterations on P = exp(-lambda * cost), rows then columns."""
    cost = random_cost(batch=2, num_tokens=20, num_clusters=5, seed=1)
    expected = torch.exp(-20.0 * cost)
    expected = expected / expected.sum(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(sinkhorn(cost, num_iters=0), expected)
    for _ in range(3):
        expected = expected / expected.sum(dim=2, keepdim=True) / 20
        expected = expected / expected.sum(dim=1, keepdim=True) / 5
    torch.testing.assert_close(sinkhorn(cost, num_iters=3), expected)


def test_sinkhorn_is_stable_for_large_lambda():
    plan = sinkhorn(random_cost().float() * 50, num_iters=3, sinkhorn_lambda=1000.0)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan.sum(dim=1), torch.full((3, 7), 1 / 7))


def test_single_linkage_distance_matches_dense_computation():
    """The chunked scatter-min equals CrIBo's dense (B, N, N, M) single-linkage distance, excluding the
    token itself (inf where a cluster has no other member)."""
    gen = torch.Generator().manual_seed(0)
    positions = torch.rand(2, 23, 2, generator=gen) * 100
    labels = torch.randint(0, 4, (2, 23), generator=gen)
    labels[:, 0] = 4  # cluster 4 has a single member, cluster 5 none
    ours = _min_distance_to_members(positions, labels, 6)

    pairwise = (positions[:, :, None] - positions[:, None]).norm(dim=-1)  # (B, N, N)
    pairwise = pairwise + torch.diag(torch.full((23, ), float('inf')))
    member = F.one_hot(labels, 6).bool()[:, None, :, :]  # (B, 1, N, M)
    dense = torch.where(member, pairwise[..., None], torch.tensor(float('inf'))).amin(dim=2)
    torch.testing.assert_close(ours, dense)
    assert torch.isinf(ours[:, 0, 4]).all() and torch.isinf(ours[:, :, 5]).all()
    assert torch.isfinite(ours[:, 1:, 4]).all()


def test_undefined_positional_cost_is_the_images_mean():
    inf = float('inf')
    cost = torch.tensor([[[0.2, inf], [0.4, 0.6]], [[inf, inf], [inf, inf]]])
    expected = torch.tensor([[[0.2, 0.4], [0.4, 0.6]], [[0.0, 0.0], [0.0, 0.0]]])
    torch.testing.assert_close(_fill_undefined(cost), expected)


def random_inputs(batch=2, num_tokens=60, channels=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, num_tokens, channels, generator=gen)
    positions = torch.rand(batch, num_tokens, 2, generator=gen) * 500
    depths = torch.rand(batch, num_tokens, generator=gen) * 50 + 2
    return tokens, positions, depths


@pytest.mark.parametrize('num_iters, depth_alpha', [(1, 0.0), (5, 0.0), (1, 4.0)])
def test_labels_in_range(num_iters, depth_alpha):
    tokens, positions, depths = random_inputs()
    labels = spatial_clustering(tokens, positions, depths, num_clusters=8, num_iters=num_iters,
                                depth_alpha=depth_alpha, generator=torch.Generator().manual_seed(0))
    assert labels.shape == (2, 60) and labels.dtype == torch.long
    assert labels.min() >= 0 and labels.max() < 8
    with pytest.raises(ValueError):
        spatial_clustering(tokens, positions, num_clusters=61, num_iters=1)
    with pytest.raises(ValueError):
        spatial_clustering(tokens, positions, num_clusters=8, num_iters=1, num_rounds=0)


def test_deterministic_with_seeded_generator():
    tokens, positions, depths = random_inputs()
    def run(seed):
        return spatial_clustering(tokens, positions, depths, num_clusters=8, num_iters=1, depth_alpha=1.0,
                                  generator=torch.Generator().manual_seed(seed))

    first, second, other = run(3), run(3), run(4)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_images_are_clustered_independently():
    tokens, positions, depths = random_inputs(batch=3)
    init_index = torch.randperm(60, generator=torch.Generator().manual_seed(0))[:8].expand(3, -1)
    kwargs = dict(num_clusters=8, num_iters=1, depth_alpha=2.0, init_index=init_index)
    together = spatial_clustering(tokens, positions, depths, **kwargs)
    kwargs['init_index'] = init_index[1:2]
    alone = spatial_clustering(tokens[1:2], positions[1:2], depths[1:2], **kwargs)
    assert torch.equal(together[1:2], alone)


def test_float32_under_autocast():
    """Tokens that differ by less than bfloat16 can resolve: the clustering must not run in bfloat16."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.ones(2, 120, 64) + 1e-3 * torch.randn(2, 120, 64, generator=gen)
    positions = torch.zeros(2, 120, 2)
    kwargs = dict(num_clusters=16, num_iters=1, init_index=torch.arange(16).expand(2, -1))
    reference = spatial_clustering(tokens, positions, **kwargs)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(spatial_clustering(tokens, positions, **kwargs), reference)


def test_permutation_equivariance():
    tokens, positions, depths = random_inputs(batch=1, num_tokens=80)
    init_index = torch.tensor([[3, 17, 29, 41, 55, 70]])
    kwargs = dict(num_clusters=6, num_iters=1, depth_alpha=1.0)
    labels = spatial_clustering(tokens, positions, depths, init_index=init_index, **kwargs)

    perm = torch.randperm(80, generator=torch.Generator().manual_seed(5))  # new token j = old token perm[j]
    inverse = torch.argsort(perm)
    permuted = spatial_clustering(tokens[:, perm], positions[:, perm], depths[:, perm],
                                  init_index=inverse[init_index], **kwargs)
    assert torch.equal(permuted, labels[:, perm])


def test_well_separated_features_end_in_different_clusters():
    """Two orthogonal appearances on a checkerboard (position cannot separate them): every cluster
    holds one appearance only, whatever the random initial centroids."""
    positions, columns = grid(12, 12)
    rows = torch.arange(144) // 12
    group = (rows + columns) % 2
    gen = torch.Generator().manual_seed(0)
    tokens = (torch.eye(16)[group] + 0.05 * torch.randn(144, 16, generator=gen))[None]
    for seed in range(5):
        for num_iters in (1, 5):
            labels = spatial_clustering(tokens, positions, num_clusters=4, num_iters=num_iters,
                                        generator=torch.Generator().manual_seed(seed))[0]
            for cluster in labels.unique():
                assert group[labels == cluster].unique().numel() == 1


def two_cars(height=8, width=16, near_columns=5, near=10.0, far=40.0):
    """Paper Fig. 1: tokens of IDENTICAL appearance forming two side-by-side blobs, a near car (columns
    < near_columns, ``near`` metres) and a far car (``far`` metres)."""
    positions, columns = grid(height, width)
    car = (columns >= near_columns).long()
    depths = torch.where(car == 0, torch.tensor(near), torch.tensor(far))[None]
    tokens = torch.ones(1, height * width, 8)
    return tokens, positions, depths, car


def test_depth_separates_identical_looking_objects():
    tokens, positions, depths, car = two_cars()
    # one seed in the middle of each car (row 4, columns 2 and 10)
    init_index = torch.tensor([[4 * 16 + 2, 4 * 16 + 10]])
    for num_iters in (1, 5):
        kwargs = dict(num_clusters=2, num_iters=num_iters, init_index=init_index)
        without = spatial_clustering(tokens, positions, depths, depth_alpha=0.0, **kwargs)[0]
        with_depth = spatial_clustering(tokens, positions, depths, depth_alpha=4.0, **kwargs)[0]
        # appearance and position alone split the tokens across the cars' boundary ...
        assert without[car == 1].unique().numel() == 2
        # ... the depth term splits them exactly into the two cars
        assert torch.equal(with_depth, car) or torch.equal(with_depth, 1 - car)


def test_depth_keeps_clusters_within_one_object_with_random_seeds():
    tokens, positions, depths, car = two_cars(16, 16, near_columns=6)
    for seed in range(4):
        counts = []
        for depth_alpha in (0.0, 4.0):
            labels = spatial_clustering(tokens, positions, depths, num_clusters=8, num_iters=1,
                                        depth_alpha=depth_alpha,
                                        generator=torch.Generator().manual_seed(seed))[0]
            counts.append(sum(car[labels == k].unique().numel() > 1 for k in labels.unique()))
        assert counts[0] > 0 and counts[1] == 0  # straddling clusters without depth, none with it


@pytest.mark.parametrize('unknown', [0.0, float('nan')])
def test_unknown_depth_neither_attracts_nor_repels(unknown):
    tokens, positions, depths, car = two_cars()
    init_index = torch.tensor([[4 * 16 + 2, 4 * 16 + 10]])
    kwargs = dict(num_clusters=2, num_iters=1, init_index=init_index)
    reference = spatial_clustering(tokens, positions, depths, depth_alpha=0.0, **kwargs)
    kwargs['depth_alpha'] = 4.0

    # all depths unknown: exactly the clustering without depth
    all_unknown = torch.full_like(depths, unknown)
    assert torch.equal(spatial_clustering(tokens, positions, all_unknown, **kwargs), reference)
    # the far car's depth unknown: it is not pushed away from the near car's clusters (10 m) either
    far_unknown = torch.where(car[None] == 1, torch.tensor(unknown), depths)
    assert torch.equal(spatial_clustering(tokens, positions, far_unknown, **kwargs), reference)
    # no depth at all
    assert torch.equal(spatial_clustering(tokens, positions, None, **kwargs), reference)


def test_positional_cost_is_scale_invariant():
    tokens, positions, depths = random_inputs(batch=1)
    init_index = torch.tensor([[0, 9, 18, 27, 36, 45]])
    kwargs = dict(num_clusters=6, num_iters=1, depth_alpha=1.0, init_index=init_index)
    labels = spatial_clustering(tokens, positions, depths, **kwargs)
    assert torch.equal(spatial_clustering(tokens, positions * 4 + 100, depths, **kwargs), labels)
    assert torch.equal(spatial_clustering(tokens, positions, depths * 3, **kwargs), labels)


def test_peak_intermediate_is_linear_in_tokens_times_clusters():
    batch, num_tokens, channels, num_clusters = 2, 2 * 196, 256, 128
    tokens, positions, depths = random_inputs(batch, num_tokens, channels)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        labels = spatial_clustering(tokens, positions, depths, num_clusters=num_clusters, num_iters=1,
                                    depth_alpha=4.0, generator=torch.Generator().manual_seed(0))
    assert labels.shape == (batch, num_tokens)
    largest = max(event.cpu_memory_usage for event in prof.events())
    # the largest allocation is a (B, N, C) or (B, N, M + 1) float tensor; CrIBo's positional cost
    # allocates a (B, N, N, M) one, 390x more here
    assert largest <= 4 * batch * num_tokens * max(channels, num_clusters + 1)
    assert largest * 100 < 4 * batch * num_tokens * num_tokens * num_clusters


def _two_depth_scene():
    """Identical-looking tokens on a 4x8 grid; the left half at 10 m, the right half at 14 m."""
    h, w = 4, 8
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    positions = torch.stack([xs, ys], -1).reshape(1, -1, 2).float() * 16
    tokens = torch.ones(1, h * w, 8) + 0.01 * torch.randn(1, h * w, 8, generator=torch.Generator().manual_seed(0))
    depths = torch.where(xs < w // 2, 10.0, 14.0).reshape(1, -1)
    return tokens, positions, depths


def _labels(depths, beta, normalization, tokens, positions):
    return spatial_clustering(tokens, positions, depths, num_clusters=4, num_iters=1, depth_alpha=beta,
                              depth_normalization=normalization, init_index=torch.tensor([[0, 7, 24, 31]]))


def test_depth_normalisation_max_is_metres_divided_by_the_largest_depth():
    tokens, positions, depths = _two_depth_scene()
    largest = depths.max().item()
    for beta in (0.5, 1.0, 4.0):
        torch.testing.assert_close(_labels(depths, beta, 'max', tokens, positions),
                                   _labels(depths, beta / largest, 'none', tokens, positions))


def test_depth_normalisation_max_is_scale_free_and_none_is_metres():
    tokens, positions, depths = _two_depth_scene()
    torch.testing.assert_close(_labels(depths, 4.0, 'max', tokens, positions),
                               _labels(depths * 3.0, 4.0, 'max', tokens, positions))
    # in metres, scaling the depths by 3 is the same as scaling beta by 3
    torch.testing.assert_close(_labels(depths * 3.0, 1.0, 'none', tokens, positions),
                               _labels(depths, 3.0, 'none', tokens, positions))
    with pytest.raises(ValueError, match='depth_normalization'):
        _labels(depths, 1.0, 'metres', tokens, positions)


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_a_non_finite_transport_plan_is_an_error(value):
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 32, 8, generator=generator)
    positions = torch.rand(2, tokens.shape[1], 2, generator=generator) * 32
    assert spatial_clustering(tokens, positions, num_clusters=4, num_iters=1).shape == tokens.shape[:2]
    tokens[1, 2, 0] = value
    with pytest.raises(FloatingPointError, match='Sinkhorn transport plan'):
        spatial_clustering(tokens, positions, num_clusters=4, num_iters=1)
