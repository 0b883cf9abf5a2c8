"""The queue of teacher object features of CrIBo / S3PT with cycle-consistent nearest-neighbour retrieval
(cross-image bootstrapping, the L^o_ci term of paper Eq. 1); the objects come from
:mod:`.object_pooling`.

Pure torch; the only distributed operation is the all-gather that feeds the queue with the objects of
every process (so every GPU retrieves neighbours from the same global queue, as in CrIBo).
"""
import contextlib
import math
from typing import Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .precision import in_float32

#: slots per chunk of the half-precision search on a CPU (a chunk's scores stay in the cache)
CPU_SEARCH_CHUNK = 16384
#: slots per chunk on a GPU: the (O, chunk) scores of a paper-size step stay near 0.5 GB whatever the queue
GPU_SEARCH_CHUNK = 1 << 16
#: elements of the block of a chunk's rows whose candidates are counted at a time (a bool -> int32 copy)
COUNT_BLOCK_ELEMENTS = 1 << 22


def _row_counts(hits: Tensor) -> Tensor:
    """(O,) int32 number of True per row of an (O, n) bool tensor; a sum converts the bools to integers, so
    the rows are summed in blocks of ``COUNT_BLOCK_ELEMENTS`` (16 MB of int32 at a time)."""
    rows = max(1, COUNT_BLOCK_ELEMENTS // max(hits.shape[1], 1))
    return torch.cat([hits[i:i + rows].sum(dim=1, dtype=torch.int32) for i in range(0, hits.shape[0], rows)]
                     + [hits.new_zeros(0, dtype=torch.int32)])


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


@contextlib.contextmanager
def _float32_accumulation(device: torch.device):
    """Half-precision products accumulated in float32, as :func:`search_error_bound` assumes: cuBLAS may
    otherwise reduce split sums in half precision (``allow_{bf16,fp16}_reduced_precision_reduction``, on by
    default). CPU kernels accumulate half-precision products in float32."""
    if device.type != 'cuda':
        yield
        return
    matmul = torch.backends.cuda.matmul
    saved = (matmul.allow_bf16_reduced_precision_reduction, matmul.allow_fp16_reduced_precision_reduction)
    matmul.allow_bf16_reduced_precision_reduction = matmul.allow_fp16_reduced_precision_reduction = False
    try:
        yield
    finally:
        matmul.allow_bf16_reduced_precision_reduction, matmul.allow_fp16_reduced_precision_reduction = saved


def search_error_bound(dtype: torch.dtype, dim: int) -> float:
    """Largest possible difference between a cosine similarity computed as a ``dtype`` matrix product of
    unit vectors (both rounded to ``dtype``, products accumulated in float32, result rounded to
    ``dtype``) and the same similarity in float32, with u the unit roundoff of ``dtype``:

    * rounding the two inputs: ``|sum q_i k_i ((1 + d_i)(1 + e_i) - 1)| <= (2u + u^2) sum |q_i k_i|
      <= 2u + u^2`` (``|d_i|, |e_i| <= u``; ``sum |q_i k_i| <= ||q|| ||k|| = 1`` by Cauchy-Schwarz);
    * float32 accumulation of ``dim`` products: ``<= dim * 2^-24`` (the exact re-scoring in float32 has
      the same error, counted here too);
    * rounding the result (``|s| <= 1 + 2u + u^2``) to ``dtype``: ``<= u (1 + 2u + u^2)``.
    """
    u = torch.finfo(dtype).eps / 2
    return (2 * u + u * u) + u * (1 + 2 * u + u * u) + 2 * dim * 2.0**-24


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

    Retrieval is the exact nearest neighbour by cosine similarity, found cheaply
    (:meth:`nearest`): every stored feature is also kept L2-normalised in half precision (``keys``, the
    search keys; bfloat16 by default) next to its float32 inverse norm, so a step neither re-normalises
    the buffer nor multiplies it in float32. The half-precision product selects, per query, the slots
    whose score is within twice :func:`search_error_bound` of the best score; only those are re-scored
    in float32, which gives the same neighbour as a float32 search over the whole buffer. The retrieved
    features are the stored float32 (unnormalised) ones, which the teacher's head then projects, as in
    CrIBo.

    Memory: ``2 * capacity * dim * (4 + 2)`` bytes (float32 features + bfloat16 keys), e.g. 3.7 GB for
    CrIBo's 25000 images x 32 objects at ViT-S width, 1.5 GB for S3PT's 2500 x 128.

    Args:
        num_images (int): images whose objects are kept (Tables 6-7: 25000 for CrIBo, 2500 for S3PT).
        max_objects_per_image (int): the most objects one image can contribute (the number of spatial
            clusters M).
        dim (int): feature dimension (backbone width; CrIBo retrieves in backbone space).
        search_dtype (torch.dtype): precision of the search keys (bfloat16 or float16).
        max_candidates_per_query (int): re-scored slots per query at most; a query with more slots
            within the error bound of its best score (near-duplicate entries) is searched in float32
            over the whole buffer instead.
    """

    def __init__(self, num_images: int, max_objects_per_image: int, dim: int,
                 search_dtype: torch.dtype = torch.bfloat16, max_candidates_per_query: int = 512):
        super().__init__()
        if num_images < 1 or max_objects_per_image < 1:
            raise ValueError(f'num_images and max_objects_per_image must be >= 1, got {num_images}, '
                             f'{max_objects_per_image}')
        if search_dtype not in (torch.bfloat16, torch.float16, torch.float32):
            raise ValueError(f'search_dtype must be bfloat16, float16 or float32, got {search_dtype}')
        capacity = num_images * max_objects_per_image
        self.search_margin = 2 * search_error_bound(search_dtype, dim)
        self.max_candidates_per_query = max_candidates_per_query
        self.register_buffer('features', torch.zeros(2, capacity, dim))
        self.register_buffer('keys', torch.zeros(2, capacity, dim, dtype=search_dtype))
        self.register_buffer('inv_norms', torch.zeros(2, capacity))
        # 0, or NaN once a non-finite object was written: the non-finite check of training reads this instead
        # of scanning the buffers above (NonFiniteCheckHook, `nonfinite_checked_on_write`)
        self.register_buffer('write_status', torch.zeros(()))
        self.register_buffer('image_counts', torch.zeros(num_images, dtype=torch.long))
        self.register_buffer('object_ptr', torch.zeros((), dtype=torch.long))
        self.register_buffer('image_ptr', torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the search keys existed hold the features only: derive the keys.
        if prefix + 'keys' not in state_dict and prefix + 'features' in state_dict:
            features = state_dict[prefix + 'features']
            state_dict[prefix + 'keys'] = F.normalize(features.float(), dim=-1).to(self.keys.dtype)
        if prefix + 'write_status' not in state_dict and prefix + 'features' in state_dict:
            features = state_dict[prefix + 'features']  # older checkpoints: scanned once, here
            state_dict[prefix + 'write_status'] = torch.where(torch.isfinite(features).all(), 0.0, float('nan'))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    #: buffers whose writes :meth:`enqueue` checks (into ``write_status``): the per-step non-finite check of
    #: training skips them (NonFiniteCheckHook), since scanning gigabytes every step costs a bool copy of them
    nonfinite_checked_on_write = ('features', 'keys', 'inv_norms')

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
        norms = pairs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        # finite pairs give finite keys and inverse norms too; no host synchronisation
        self.write_status.copy_(torch.where(torch.isfinite(pairs).all(), self.write_status, float('nan')))
        self.features[:, slots] = pairs
        self.keys[:, slots] = (pairs / norms).to(self.keys.dtype)
        self.inv_norms[:, slots] = 1.0 / norms[..., 0]
        self.object_ptr.copy_((self.object_ptr + num_new) % self.capacity)
        image_slots = (self.image_ptr + torch.arange(counts.shape[0], device=counts.device)) % self.num_images
        self.image_counts[image_slots] = counts
        self.image_ptr.copy_((self.image_ptr + counts.shape[0]) % self.num_images)

    def _candidates(self, view: int, queries: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The slots whose half-precision score is within ``search_margin`` of the query's best valid
        score, as ``(rows, slots)`` index pairs (none for a query without a valid slot), and the (O,) bool
        mask of the *crowded* queries, which have more than ``max_candidates_per_query`` of them and whose
        pairs are left out.

        The buffer is scanned in chunks of ``CPU_SEARCH_CHUNK`` slots on a CPU (each chunk's scores stay in
        the cache), ``GPU_SEARCH_CHUNK`` on a GPU (bounded scores). Candidates are taken against the running
        best (a superset, filtered at the end) and counted per query as they come: a query whose count
        passes the limit is crowded from then on and collects no more, so the lists hold at most
        ``O * max_candidates_per_query`` pairs, whatever the buffer holds. (A count against the running
        best can only overestimate: a query may be declared crowded and searched exactly in float32 when
        it did not need to be, never the other way.)"""
        keys = self.keys[view]
        chunk = GPU_SEARCH_CHUNK if keys.is_cuda else CPU_SEARCH_CHUNK
        q = queries.to(keys.dtype)
        best = queries.new_full((queries.shape[0], ), float('-inf'))
        counts = torch.zeros(queries.shape[0], dtype=torch.int32, device=queries.device)
        rows, slots, scores = [], [], []
        with _float32_accumulation(keys.device):
            for start in range(0, keys.shape[0], chunk):
                part = q @ keys[start:start + chunk].t()  # (O, chunk), error <= search_margin / 2
                part.masked_fill_(~valid[start:start + chunk], float('-inf'))
                best = torch.maximum(best, part.amax(dim=1).float())
                threshold = torch.where(torch.isfinite(best), best - self.search_margin, float('inf'))
                # compared in the scores' precision (no float32 copy of them): the threshold rounded down
                low = threshold.to(part.dtype)
                low = torch.where(low.float() > threshold, torch.nextafter(low, torch.full_like(low, -math.inf)),
                                  low)
                hits = part >= low[:, None]
                counts += _row_counts(hits)
                hits &= (counts <= self.max_candidates_per_query)[:, None]
                r, c = hits.nonzero(as_tuple=True)
                rows.append(r)
                slots.append(c + start)
                scores.append(part[r, c].float())
        rows, slots, scores = torch.cat(rows), torch.cat(slots), torch.cat(scores)
        crowded = counts > self.max_candidates_per_query
        keep = (scores >= (best - self.search_margin)[rows]) & ~crowded[rows]
        return rows[keep], slots[keep], crowded

    @torch.no_grad()
    @in_float32
    def nearest(self, view: int, queries: Tensor, valid: Tensor) -> Tensor:
        """Index of each query's most cosine-similar valid slot among the ``view`` features: the exact
        float32 nearest neighbour (ties: the lowest slot), found with a half-precision pre-selection.

        Any slot whose exact score can beat the pre-selected best lies within twice the error bound of
        it, so re-scoring those candidates in float32 gives the float32 search's answer. A query with
        more than ``max_candidates_per_query`` candidates (near-duplicate entries) is searched in float32
        over the whole buffer. Autocast is off: the pre-selection runs in the keys' own dtype (autocast
        would recast bfloat16 keys to fp16, a fresh copy of the whole buffer per search) and the re-scoring
        and the fallback in float32.

        Args:
            view (int): 0 or 1. queries (Tensor): (O, C) unit vectors (float32).
            valid (BoolTensor): (capacity,) :meth:`valid_slots`.

        Returns:
            LongTensor: (O,) slot indices (0 for a query when no slot is valid).
        """
        num_queries = queries.shape[0]
        rows, slots, crowded = self._candidates(view, queries, valid)
        any_crowded = bool(crowded.any())
        exact = (self.features[view, slots] * queries[rows]).sum(-1) * self.inv_norms[view, slots]
        row_best = exact.new_full((num_queries, ), float('-inf')).scatter_reduce(0, rows, exact, 'amax')
        at_best = exact == row_best[rows]
        index = torch.full((num_queries, ), self.capacity, dtype=torch.long, device=queries.device)
        index = index.scatter_reduce(0, rows[at_best], slots[at_best], 'amin')
        if any_crowded:
            dense_rows = crowded.nonzero().squeeze(1)
            dense = (queries[dense_rows] @ self.features[view].t()) * self.inv_norms[view]
            index[dense_rows] = dense.masked_fill(~valid, float('-inf')).argmax(dim=1)
        return index.masked_fill(index == self.capacity, 0)

    @torch.no_grad()
    @in_float32
    def cycle_consistent_neighbours(self, objects_v1: Tensor,
                                    objects_v2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Nearest neighbours in the queue that pass CrIBo's cycle-consistency test.

        For an object o of view 1: q = NN(o) among the queue's view-1 features (cosine similarity);
        q' = the view-2 feature stored with q; o is bootstrapped if NN(q') among this batch's view-2
        objects is o's own view-2 twin. Symmetrically for view 2. The similarities of the test are
        float32 (autocast off).

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
        views = (F.normalize(objects_v1.float(), dim=-1), F.normalize(objects_v2.float(), dim=-1))
        own = torch.arange(num_obj, device=objects_v1.device)
        results = []
        for view in (0, 1):
            other = 1 - view
            nn_idx = self.nearest(view, views[view], valid)
            back = (self.features[other, nn_idx] @ views[other].t()).argmax(dim=1)
            results += [self.features[view, nn_idx].to(objects_v1.dtype), (back == own) & valid[nn_idx]]
        return tuple(results)
