"""Object features of CrIBo / S3PT (s3pt_mm.models.utils.object_pooling, .object_queue): pooling per
spatial cluster, objects present in both views, and the cross-image queue (FIFO, cycle-consistent
neighbours, gathered over DDP ranks)."""
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


def test_queue_is_a_fifo_of_pairs():
    queue = ObjectQueue(capacity=3, dim=2)
    assert len(queue) == 0

    def pairs(*values):
        v1 = torch.tensor([[v, 0.0] for v in values])
        return v1, v1 * 10

    queue.enqueue(*pairs(1, 2))
    assert len(queue) == 2
    queue.enqueue(*pairs(3, 4))  # 4 overwrites the oldest slot (1)
    assert len(queue) == 3
    assert queue.features[0, :, 0].tolist() == [4, 2, 3]
    assert queue.features[1, :, 0].tolist() == [40, 20, 30]  # view-2 entries stay with their pairs
    queue.enqueue(*pairs(5, 6, 7, 8))  # more than the capacity: the last three are kept
    assert sorted(queue.features[0, :, 0].tolist()) == [6, 7, 8]
    torch.testing.assert_close(queue.features[1], queue.features[0] * 10)


def test_cycle_consistent_neighbours_on_a_hand_made_case():
    queue = ObjectQueue(capacity=4, dim=2)
    assert not any(queue.cycle_consistent_neighbours(torch.ones(2, 2), torch.ones(2, 2))[1])  # empty
    # two stored pairs: a = ([1, 0], [1, 0.2]), b = ([0, 1], [1, 0.1])
    queue.enqueue(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.2], [1.0, 0.1]]))
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


def _enqueue_on_rank(rank):
    # rank 0 has one object pair this step, rank 1 three: every rank's queue must get all four
    queue = ObjectQueue(capacity=10, dim=2)
    values = [1.0] if rank == 0 else [2.0, 3.0, 4.0]
    objects = torch.tensor([[v, -v] for v in values])
    queue.enqueue(objects, objects * 10)
    return len(queue), queue.features.clone()


def test_queue_gathers_the_objects_of_every_rank():
    (len_0, features_0), (len_1, features_1) = run_distributed(_enqueue_on_rank)
    assert len_0 == len_1 == 4
    torch.testing.assert_close(features_0, features_1)
    assert features_0[0, :4, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # rank order
    torch.testing.assert_close(features_0[1, :4], features_0[0, :4] * 10)
