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


def _gather_variable_rows(x: Tensor) -> Tensor:
    """all_gather of (n_i, C) tensors whose n_i differs across processes; (sum n_i, C)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    world = dist.get_world_size()
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    padded = x.new_zeros((max(sizes), ) + x.shape[1:])
    padded[:x.shape[0]] = x
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)])


class ObjectQueue(nn.Module):
    """FIFO memory of paired teacher object features (view 1, view 2) for cross-image bootstrapping.

    ``capacity`` counts objects; CrIBo sizes its queue in images (25000 for CrIBo, 2500 for S3PT,
    Tables 6-7), which the algorithm converts with ``images x num_clusters``. Slots that were never
    written are excluded from retrieval (``len(queue)`` is the number of filled slots).

    Args:
        capacity (int): number of object pairs kept.
        dim (int): feature dimension (backbone width; CrIBo retrieves in backbone space).
    """

    def __init__(self, capacity: int, dim: int):
        super().__init__()
        if capacity < 1:
            raise ValueError(f'queue capacity must be >= 1, got {capacity}')
        self.register_buffer('features', torch.zeros(2, capacity, dim))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('filled', torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.filled)

    @property
    def capacity(self) -> int:
        return self.features.shape[1]

    @torch.no_grad()
    def enqueue(self, objects_v1: Tensor, objects_v2: Tensor) -> None:
        """Append the (O, C) paired objects of this step, gathered from every process."""
        pairs = _gather_variable_rows(torch.stack([objects_v1, objects_v2], dim=1).float())
        pairs = pairs[-self.capacity:]
        n = pairs.shape[0]
        idx = (self.ptr + torch.arange(n, device=pairs.device)) % self.capacity
        self.features[:, idx] = pairs.transpose(0, 1).to(self.features.dtype)
        self.ptr.copy_((self.ptr + n) % self.capacity)
        self.filled.copy_(torch.clamp(self.filled + n, max=self.capacity))

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
        n = len(self)
        num_obj = objects_v1.shape[0]
        if n == 0 or num_obj == 0:
            empty = objects_v1.new_zeros(objects_v1.shape)
            none = torch.zeros(num_obj, dtype=torch.bool, device=objects_v1.device)
            return empty, none, empty.clone(), none.clone()
        memory = F.normalize(self.features[:, :n].to(objects_v1.dtype), dim=-1)  # (2, n, C)
        views = (F.normalize(objects_v1, dim=-1), F.normalize(objects_v2, dim=-1))
        own = torch.arange(num_obj, device=objects_v1.device)
        results = []
        for view in (0, 1):
            other = 1 - view
            nn_idx = (views[view] @ memory[view].t()).argmax(dim=1)
            back = (memory[other][nn_idx] @ views[other].t()).argmax(dim=1)
            results += [self.features[view, nn_idx].to(objects_v1.dtype), back == own]
        return tuple(results)
