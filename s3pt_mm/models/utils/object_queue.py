"""The queue of teacher object features of CrIBo / S3PT with cycle-consistent nearest-neighbour retrieval
(cross-image bootstrapping, the L^o_ci term of paper Eq. 1); the objects come from
:mod:`.object_pooling`.

Pure torch; the only distributed operation is the all-gather that feeds the queue with the objects of
every process (so every GPU retrieves neighbours from the same global queue, as in CrIBo).
"""
from typing import Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

def _all_gather_rows(x: Tensor) -> Tensor:
    """all_gather of (n_i, ...) tensors whose n_i may differ across processes (0 included); (sum n_i, ...)
    in rank order. Every rank takes part in both collectives whatever its n_i."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    world = dist.get_world_size()
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    padded = x.new_zeros((max(max(sizes), 1), ) + x.shape[1:])
    padded[:x.shape[0]] = x
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)])


class ObjectQueue(nn.Module):
    """The paired teacher objects (view 1, view 2) of the last ``num_images`` images (CrIBo's queue).

    CrIBo (``main_cribo.py``, ``get_nn_centroids``) sizes its queue in images: it keeps, per image, the
    number of its valid objects (``cpv_queue``) and retrieves among the objects of the last ``queue_size``
    images, newest first, however many objects each of them had. Here the objects live in a ring buffer of
    ``num_images * max_objects_per_image`` slots (CrIBo allocates ``n_tokens * queue_size`` likewise) and the
    per-image counts in a ring of ``num_images`` entries; the objects of the last ``num_images`` images are
    then exactly the ``n_valid = sum(counts)`` most recently written slots. Slots never written are not
    retrieved (CrIBo starts from random entries, which it does not use before its cross-image term starts
    after one epoch).

    For retrieval by cosine similarity, the inverse norm of every stored feature is kept next to it, so
    a step does not re-normalise the whole buffer; the retrieved features are the stored (unnormalised)
    ones, which the teacher's head then projects, as in CrIBo.

    Args:
        num_images (int): images whose objects are kept (Tables 6-7: 25000 for CrIBo, 2500 for S3PT).
        max_objects_per_image (int): the most objects one image can contribute (the number of spatial
            clusters M).
        dim (int): feature dimension (backbone width; CrIBo retrieves in backbone space).
    """

    def __init__(self, num_images: int, max_objects_per_image: int, dim: int):
        super().__init__()
        if num_images < 1 or max_objects_per_image < 1:
            raise ValueError(f'num_images and max_objects_per_image must be >= 1, got {num_images}, '
                             f'{max_objects_per_image}')
        capacity = num_images * max_objects_per_image
        self.register_buffer('features', torch.zeros(2, capacity, dim))
        self.register_buffer('inv_norms', torch.zeros(2, capacity))
        self.register_buffer('image_counts', torch.zeros(num_images, dtype=torch.long))
        self.register_buffer('object_ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('image_ptr', torch.zeros((), dtype=torch.long))

    @property
    def capacity(self) -> int:
        """Object slots of the buffer."""
        return self.features.shape[1]

    @property
    def num_images(self) -> int:
        return self.image_counts.shape[0]

    def __len__(self) -> int:
        """Number of objects available for retrieval (host synchronisation: for tests and logging)."""
        return int(self.image_counts.sum())

    def valid_slots(self) -> Tensor:
        """(capacity,) bool: the slots holding the objects of the last ``num_images`` images."""
        age = (self.object_ptr - 1 - torch.arange(self.capacity, device=self.features.device)) % self.capacity
        return age < self.image_counts.sum()

    @torch.no_grad()
    def enqueue(self, objects_v1: Tensor, objects_v2: Tensor, objects_per_image: Tensor) -> None:
        """Append this step's objects, gathered from every process (rank order).

        Args:
            objects_v1, objects_v2 (Tensor): (O, C) paired objects, grouped by image.
            objects_per_image (Tensor): (B,) int, the objects of each image of this process's batch
                (summing to O; 0 for an image without an object shared by its views).
        """
        pairs = _all_gather_rows(torch.stack([objects_v1, objects_v2]).transpose(0, 1).float())
        counts = _all_gather_rows(objects_per_image.to(self.image_counts))
        if counts.shape[0] > self.num_images:  # more images in one step than the queue holds
            pairs = pairs[pairs.shape[0] - int(counts[-self.num_images:].sum()):]
            counts = counts[-self.num_images:]
        num_new = pairs.shape[0]
        slots = (self.object_ptr + torch.arange(num_new, device=pairs.device)) % self.capacity
        pairs = pairs.transpose(0, 1).to(self.features.dtype)  # (2, n, C)
        self.features[:, slots] = pairs
        self.inv_norms[:, slots] = 1.0 / pairs.norm(dim=-1).clamp_min(1e-12)
        self.object_ptr.copy_((self.object_ptr + num_new) % self.capacity)
        image_slots = (self.image_ptr + torch.arange(counts.shape[0], device=counts.device)) % self.num_images
        self.image_counts[image_slots] = counts
        self.image_ptr.copy_((self.image_ptr + counts.shape[0]) % self.num_images)

    @torch.no_grad()
    def cycle_consistent_neighbours(self, objects_v1: Tensor,
                                    objects_v2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Nearest neighbours in the queue that pass CrIBo's cycle-consistency test.

        For an object o of view 1: q = NN(o) among the queue's view-1 features (cosine similarity);
        q' = the view-2 feature stored with q; o is bootstrapped if NN(q') among this batch's view-2
        objects is o's own view-2 twin. Symmetrically for view 2.

        Args:
            objects_v1, objects_v2 (Tensor): (O, C) paired teacher objects of this step.

        Returns:
            tuple: ``(nn_v1, mask_v1, nn_v2, mask_v2)``: the retrieved (O, C) queue features paired
            with view 1 (the queue's view-1 entry) and view 2, and (O,) bool masks of the objects that
            pass the cycle test (all False while the queue is empty).
        """
        num_obj = objects_v1.shape[0]
        if num_obj == 0:
            empty = objects_v1.new_zeros(objects_v1.shape)
            none = torch.zeros(0, dtype=torch.bool, device=objects_v1.device)
            return empty, none, empty.clone(), none.clone()
        valid = self.valid_slots()
        views = (F.normalize(objects_v1, dim=-1), F.normalize(objects_v2, dim=-1))
        own = torch.arange(num_obj, device=objects_v1.device)
        results = []
        for view in (0, 1):
            other = 1 - view
            similarity = (views[view] @ self.features[view].to(views[view].dtype).t()) * self.inv_norms[view]
            nn_idx = similarity.masked_fill(~valid, float('-inf')).argmax(dim=1)
            back = (self.features[other, nn_idx].to(views[other].dtype) @ views[other].t()).argmax(dim=1)
            results += [self.features[view, nn_idx].to(objects_v1.dtype), (back == own) & valid[nn_idx]]
        return tuple(results)
