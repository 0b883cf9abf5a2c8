"""Object features of CrIBo / S3PT (s3pt_mm.models.utils.object_pooling, .object_queue): pooling per
spatial cluster, objects present in both views, and the cross-image queue (FIFO, cycle-consistent
neighbours, gathered over DDP ranks)."""
import pytest
import torch
from tests.helpers import run_distributed

from s3pt_mm.models.utils import ObjectQueue, objects_in_both_views, pool_objects


def test_pool_objects_means_and_counts():
    tokens = torch.tensor([[[[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]]]])  # (B=1, V=1, P=4, C=2)
    labels = torch.tensor([[[0, 0, 2, 2]]])
    means, counts = pool_objects(tokens, labels, num_clusters=3)
    torch.testing.assert_close(means, torch.tensor([[[[2.0, 0.0], [0.0, 0.0], [0.0, 3.0]]]]))
    torch.testing.assert_close(counts, torch.tensor([[[2.0, 0.0, 2.0]]]))


def test_objects_in_both_views_pairs_the_shared_clusters():
    # (B=2, V=2, P=3, C=1): token value = 10 * image + 3 * view + position, easy to average by hand
    tokens = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [[10.0, 11.0, 12.0], [13.0, 14.0, 15.0]]])[..., None]
    labels = torch.tensor([[[0, 0, 1], [1, 1, 2]],   # image 0: only cluster 1 is in both views
                           [[2, 2, 2], [2, 0, 0]]])  # image 1: only cluster 2
    view_1, view_2, valid = objects_in_both_views(tokens, labels, num_clusters=3)
    assert valid.tolist() == [[False, True, False], [False, False, True]]
    torch.testing.assert_close(view_1, torch.tensor([[2.0], [11.0]]))   # means of view-1 tokens
    torch.testing.assert_close(view_2, torch.tensor([[3.5], [13.0]]))   # same clusters, view 2


class ReferenceImageQueue:
    """CrIBo's queue bookkeeping (``get_nn_centroids``), restated: per image a count of valid objects
    (``cpv_queue``); new images go first; the objects retrievable are those of the newest ``queue_size``
    images, i.e. the first ``sum(cpv_queue)`` entries of the object queue."""

    def __init__(self, queue_size):
        self.queue_size = queue_size
        self.images = []  # newest first: lists of (view-1, view-2) object pairs

    def enqueue(self, per_image_pairs):
        self.images = list(reversed(per_image_pairs)) + self.images
        self.images = self.images[:self.queue_size]

    def objects(self):
        return [pair for image in self.images for pair in image]


def _image_batch(first_value, counts, dim=3):
    """Objects of a batch of images, image i having counts[i] objects; values count up from first_value."""
    values = first_value + torch.arange(float(sum(counts)))
    v1 = torch.stack([values, torch.ones_like(values), -values], dim=1)[:, :dim]
    return v1, v1 * 10, torch.tensor(counts)


def _stored_pairs(queue):
    valid = queue.valid_slots()
    return sorted((round(a[0].item()), round(b[0].item())) for a, b in zip(queue.features[0][valid],
                                                                           queue.features[1][valid]))


def test_queue_keeps_the_objects_of_the_last_images_like_cribo():
    queue = ObjectQueue(num_images=3, max_objects_per_image=4, dim=3)
    reference = ReferenceImageQueue(queue_size=3)
    assert len(queue) == 0 and not queue.valid_slots().any()
    value = 1
    for counts in ([2, 4], [0, 1], [3], [4, 4, 1], [1, 0]):
        v1, v2, per_image = _image_batch(value, counts)
        queue.enqueue(v1, v2, per_image)
        pairs, start = [], 0
        for n in counts:
            pairs.append([(value + start + i, 10 * (value + start + i)) for i in range(n)])
            start += n
        reference.enqueue(pairs)
        value += sum(counts)
        assert _stored_pairs(queue) == sorted(reference.objects()), counts
        assert len(queue) == len(reference.objects())
    # e.g. after [4, 4, 1] then [1, 0] the last three images hold 1 + 1 + 0 objects, not the queue's
    # capacity in objects (CrIBo's queue counts images; an object-count queue would keep 12 here)
    assert len(queue) == 2 and queue.capacity == 12


def test_more_images_in_one_step_than_the_queue_holds():
    queue = ObjectQueue(num_images=2, max_objects_per_image=3, dim=3)
    v1, v2, per_image = _image_batch(1, [3, 1, 2])
    queue.enqueue(v1, v2, per_image)
    assert _stored_pairs(queue) == [(4, 40), (5, 50), (6, 60)]  # the last two images' objects


def test_retrieval_ignores_slots_of_images_that_left_the_queue():
    queue = ObjectQueue(num_images=1, max_objects_per_image=2, dim=2)
    queue.enqueue(torch.tensor([[1.0, 0.0], [0.9, 0.1]]), torch.tensor([[1.0, 0.0], [0.9, 0.1]]),
                  torch.tensor([2]))
    queue.enqueue(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    # slot 1 still holds [0.9, 0.1] but its image left the queue: [1, 0] must find [0, 1]
    nn_v1, mask_v1, _, _ = queue.cycle_consistent_neighbours(torch.tensor([[1.0, 0.0]]),
                                                             torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(nn_v1, torch.tensor([[0.0, 1.0]]))
    assert mask_v1.tolist() == [True]  # [0, 1]'s view 2 -> the only view-2 object of the batch


def test_cycle_consistent_neighbours_on_a_hand_made_case():
    queue = ObjectQueue(num_images=2, max_objects_per_image=2, dim=2)
    assert not any(queue.cycle_consistent_neighbours(torch.ones(2, 2), torch.ones(2, 2))[1])  # empty
    # two stored pairs: a = ([1, 0], [1, 0.2]), b = ([0, 1], [1, 0.1])
    queue.enqueue(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.2], [1.0, 0.1]]),
                  torch.tensor([2]))
    objects_v1 = torch.tensor([[1.0, 0.1], [0.1, 1.0]])
    objects_v2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    nn_v1, mask_v1, nn_v2, mask_v2 = queue.cycle_consistent_neighbours(objects_v1, objects_v2)
    # view 1: object 0 -> a, a's view 2 [1, 0.2] -> batch view-2 object 0 = its own twin: bootstrapped;
    #         object 1 -> b, b's view 2 [1, 0.1] -> view-2 object 0, not its twin: rejected
    torch.testing.assert_close(nn_v1, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert mask_v1.tolist() == [True, False]
    # view 2: object 0 -> b (cos 0.995 > 0.981), b's view 1 [0, 1] -> view-1 object 1: rejected;
    #         object 1 -> a, a's view 1 [1, 0] -> view-1 object 0: rejected
    torch.testing.assert_close(nn_v2, torch.tensor([[1.0, 0.1], [1.0, 0.2]]))
    assert mask_v2.tolist() == [False, False]
    # no objects this step: nothing to retrieve
    assert [t.shape[0] for t in queue.cycle_consistent_neighbours(torch.zeros(0, 2), torch.zeros(0, 2))] == \
        [0, 0, 0, 0]


def _enqueue_on_rank(rank):
    # rank 0: one image with one object pair; rank 1: two images with 0 and 3 objects. Every rank's queue
    # must get all four objects and all three images, in rank order.
    queue = ObjectQueue(num_images=10, max_objects_per_image=3, dim=2)
    values = [1.0] if rank == 0 else [2.0, 3.0, 4.0]
    counts = torch.tensor([1]) if rank == 0 else torch.tensor([0, 3])
    objects = torch.tensor([[v, -v] for v in values])
    queue.enqueue(objects, objects * 10, counts)
    return len(queue), queue.features.clone(), queue.image_counts.clone()


def test_queue_gathers_the_objects_of_every_rank():
    (len_0, features_0, counts_0), (len_1, features_1, counts_1) = run_distributed(_enqueue_on_rank)
    assert len_0 == len_1 == 4
    torch.testing.assert_close(features_0, features_1)
    assert features_0[0, :4, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # rank order
    assert counts_0[:3].tolist() == counts_1[:3].tolist() == [1, 0, 3]
    torch.testing.assert_close(features_0[1, :4], features_0[0, :4] * 10)


def _filled_queue(features_v1, search_dtype=torch.bfloat16, max_candidates=512):
    queue = ObjectQueue(num_images=1, max_objects_per_image=features_v1.shape[0], dim=features_v1.shape[1],
                        search_dtype=search_dtype, max_candidates_per_query=max_candidates)
    queue.enqueue(features_v1, features_v1.flip(0), torch.tensor([features_v1.shape[0]]))
    return queue


def _float64_nearest(queries, features):
    """The float64 cosine nearest neighbour (CrIBo's rule: normalise both, product, top-1)."""
    import torch.nn.functional as F
    return (F.normalize(queries.double(), dim=-1) @ F.normalize(features.double(), dim=-1).t()).argmax(dim=1)


def test_search_error_bound_holds_for_half_precision_products():
    from s3pt_mm.models.utils.object_queue import search_error_bound
    g = torch.Generator().manual_seed(0)
    import torch.nn.functional as F
    for dtype in (torch.bfloat16, torch.float16):
        q = F.normalize(torch.randn(64, 384, generator=g), dim=-1)
        # keys correlated with the queries (|cos| up to ~1) and uncorrelated ones
        k = F.normalize(torch.cat([q + 0.05 * torch.randn(64, 384, generator=g),
                                   torch.randn(2000, 384, generator=g).abs()]), dim=-1)
        approx = (q.to(dtype) @ k.to(dtype).t()).double()
        error = (approx - q.double() @ k.double().t()).abs().max().item()
        bound = search_error_bound(dtype, 384)
        assert error <= bound, (dtype, error, bound)
        assert bound < 4 * torch.finfo(dtype).eps  # and it is not vacuous: ~3 unit roundoffs
    assert search_error_bound(torch.float16, 384) < search_error_bound(torch.bfloat16, 384) / 6


@pytest.mark.parametrize('chunk', [16384, 256, 7])
def test_half_precision_search_finds_the_exact_nearest_neighbour(chunk, monkeypatch):
    """Random and clustered features (many near-ties), the features stored unnormalised with various
    norms, the buffer scanned in one chunk or in many (the running best rises from chunk to chunk): the
    retrieved slot is the float64 nearest neighbour; a float32 search gives the same."""
    from s3pt_mm.models.utils import object_queue
    monkeypatch.setattr(object_queue, 'CPU_SEARCH_CHUNK', chunk)
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(20, 64, generator=g)
    clustered = centres[torch.randint(0, 20, (3000, ), generator=g)] + 0.02 * torch.randn(3000, 64, generator=g)
    for features in (torch.randn(3000, 64, generator=g), clustered):
        features = features * (0.1 + 10 * torch.rand(3000, 1, generator=g))
        queries = torch.nn.functional.normalize(
            features[torch.randint(0, 3000, (50, ), generator=g)] + 0.05 * torch.randn(50, 64, generator=g), dim=-1)
        expected = _float64_nearest(queries, features)
        valid = torch.ones(3000, dtype=torch.bool)
        for dtype in (torch.bfloat16, torch.float16, torch.float32):
            queue = _filled_queue(features, dtype)
            assert queue.nearest(0, queries, valid).tolist() == expected.tolist(), dtype


def test_crowded_queries_fall_back_to_a_float32_search():
    """Near-duplicates (more slots within the error margin than max_candidates_per_query): still exact."""
    g = torch.Generator().manual_seed(2)
    base = torch.randn(1, 32, generator=g)
    features = base + 1e-3 * torch.randn(400, 32, generator=g)  # all within ~1e-6 in cosine
    queries = torch.nn.functional.normalize(features[:5] + 1e-4 * torch.randn(5, 32, generator=g), dim=-1)
    expected = _float64_nearest(queries, features)
    queue = _filled_queue(features, max_candidates=8)
    valid = torch.ones(400, dtype=torch.bool)
    assert queue.nearest(0, queries, valid).tolist() == expected.tolist()


@pytest.mark.parametrize('chunk', [16384, 64])
def test_candidate_lists_stay_bounded_when_every_slot_is_a_near_duplicate(chunk, monkeypatch):
    """The candidates are counted as the chunks come: a crowded query stops collecting, so the lists hold at
    most O * max_candidates_per_query pairs (they held O * capacity before), and the answer is still the
    exact one (the crowded queries are searched in float32)."""
    from s3pt_mm.models.utils import object_queue
    monkeypatch.setattr(object_queue, 'CPU_SEARCH_CHUNK', chunk)
    g = torch.Generator().manual_seed(3)
    features = torch.randn(1, 32, generator=g) + 1e-3 * torch.randn(2000, 32, generator=g)
    queries = torch.nn.functional.normalize(features[:6] + 1e-4 * torch.randn(6, 32, generator=g), dim=-1)
    queue = _filled_queue(features, max_candidates=8)
    valid = torch.ones(2000, dtype=torch.bool)
    rows, slots, crowded = queue._candidates(0, queries, valid)
    assert crowded.all() and rows.numel() == 0  # every query crowded: no pair kept
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        index = queue.nearest(0, queries, valid)
    assert index.tolist() == _float64_nearest(queries, features).tolist()
    largest = max(event.cpu_memory_usage for event in prof.events())
    # the largest allocation is one query block's float32 scores against the buffer (the exact fallback);
    # the unbounded lists were 6 x 2000 pairs of int64 (rows, slots) and their scores
    assert largest <= 4 * 6 * 2000 and largest < 8 * 6 * 2000


def test_a_nonfinite_object_written_sets_the_write_status():
    queue = ObjectQueue(num_images=4, max_objects_per_image=2, dim=3)
    ones = torch.ones(1, 3)
    queue.enqueue(ones, ones, torch.tensor([1]))
    assert queue.write_status.item() == 0.0
    queue.enqueue(torch.tensor([[1.0, float('inf'), 0.0]]), ones, torch.tensor([1]))
    assert torch.isnan(queue.write_status)
    queue.enqueue(ones, ones, torch.tensor([1]))
    assert torch.isnan(queue.write_status)  # stays set: the hook stops training at the first one


def test_nearest_breaks_ties_by_the_lowest_slot_and_skips_invalid_slots():
    features = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    queue = _filled_queue(features)
    query = torch.tensor([[1.0, 0.0]])
    valid = torch.ones(5, dtype=torch.bool)
    assert queue.nearest(0, query, valid).tolist() == [1]  # slots 1, 2, 3 tie exactly (cos 1)
    valid[1] = False
    assert queue.nearest(0, query, valid).tolist() == [2]
    valid[:4] = False
    assert queue.nearest(0, query, valid).tolist() == [4]
    assert queue.nearest(0, query, torch.zeros(5, dtype=torch.bool)).tolist() == [0]  # nothing valid


def test_a_queue_saved_without_search_keys_loads_with_them():
    queue = ObjectQueue(num_images=2, max_objects_per_image=2, dim=3)
    queue.enqueue(torch.tensor([[3.0, 4.0, 0.0]]), torch.tensor([[0.0, 0.0, 2.0]]), torch.tensor([1]))
    state = {k: v for k, v in queue.state_dict().items() if k not in ('keys', 'write_status')}  # older
    restored = ObjectQueue(num_images=2, max_objects_per_image=2, dim=3)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.keys, queue.keys)
    assert restored.write_status.item() == 0.0  # the features of an older checkpoint are finite
    assert restored.keys[0, 0].float().tolist() == [0.6015625, 0.80078125, 0.0]  # [0.6, 0.8, 0] in bfloat16
