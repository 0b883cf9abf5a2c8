"""Random numbers that depend on the iteration only, so that a resumed training continues exactly.

An mmengine checkpoint holds the weights, buffers, optimizer, schedulers and message hub, but not the
state of the random number generators: a training resumed from epoch ``e`` would draw other drop-path
masks, other initial centroids of the spatial clustering and (in the main process) other crops than the
uninterrupted run. :class:`IterationSeedHook` seeds python's ``random``, numpy's global generator and
torch's generators (CPU and CUDA) from ``(runner.seed, iteration)`` before every epoch and every
iteration, so every draw of iteration ``i`` is the same whether the run went through ``i`` or resumed
before it. ``runner.seed`` is the seed of the ``randomness`` config (plus the rank with
``diff_rank_seed``), so DDP ranks keep distinct random streams.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def iteration_seed(seed, iteration):
    """A 32-bit seed of ``(seed, iteration)``, well mixed (no collision of ``seed + iteration`` sums)."""
    return int(np.random.SeedSequence([seed, iteration]).generate_state(1)[0])


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed every random number generator from ``(runner.seed, runner.iter)`` before each epoch (its
    data loader iterator draws from them) and before each training iteration."""
    priority = 'VERY_HIGH'

    @staticmethod
    def _seed(runner):
        seed = iteration_seed(runner.seed, runner.iter)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # every device

    def before_train_epoch(self, runner):
        self._seed(runner)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._seed(runner)
