"""Collapse measures of the teacher (DINO §5.3: entropy and KL divergence to the batch mean)."""
import math

import pytest
import torch

from s3pt_mm.models.utils.collapse import collapse_statistics


def test_statistics_of_the_two_collapses_and_of_a_healthy_teacher():
    k, n = 8, 4
    uniform = collapse_statistics(torch.full((n, k), 1.0 / k))
    assert uniform['entropy'] == pytest.approx(math.log(k)) and uniform['kl_to_mean'] == pytest.approx(0.0)
    one_prototype = collapse_statistics(torch.eye(k)[[2, 2, 2, 2]])
    assert one_prototype['entropy'] == pytest.approx(0.0) and one_prototype['kl_to_mean'] == pytest.approx(0.0)
    assert one_prototype['prototypes_in_use'] == 1
    healthy = collapse_statistics(torch.eye(k)[[0, 1, 2, 3]])  # confident and different: KL = log N
    assert healthy['entropy'] == pytest.approx(0.0) and healthy['kl_to_mean'] == pytest.approx(math.log(n))
    assert healthy['prototypes_in_use'] == 4 and healthy['entropy_of_mean'] == pytest.approx(math.log(n))


def test_blocks_of_rows_give_the_statistics_of_the_whole_without_a_copy_of_it():
    """(2 O, K) object distributions of a paper-size step are gigabytes: the statistics read them in blocks of
    rows (no (N, K) float64 copy) and are the same for any block size."""
    probs = torch.softmax(torch.randn(300, 65536, generator=torch.Generator().manual_seed(1)) * 3, dim=-1)
    whole = collapse_statistics(probs, block_elements=probs.numel())
    blocked = collapse_statistics(probs, block_elements=7 * 65536)
    assert blocked == pytest.approx(whole, rel=1e-12, abs=1e-12)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        collapse_statistics(probs)
    largest = max(event.cpu_memory_usage for event in prof.events())
    assert largest <= 8 * (1 << 21) < probs.numel() * 4  # one float64 block; a float32 copy would be 78 MB


def test_kl_to_mean_against_the_definition():
    probs = torch.softmax(torch.randn(5, 7, generator=torch.Generator().manual_seed(0)), -1).double()
    mean = probs.mean(0)
    expected = sum((p * (p / mean).log()).sum() for p in probs) / 5
    assert collapse_statistics(probs)['kl_to_mean'] == pytest.approx(expected.item())


