"""Watch the teacher for the two collapses of DINO-style training and stop when one persists."""
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

STATISTICS = ('entropy', 'kl_to_mean', 'entropy_of_mean', 'prototypes_in_use')


@HOOKS.register_module()
class CollapseMonitorHook(Hook):
    """Log the teacher's collapse statistics every ``interval`` iterations and stop on collapse.

    For the [CLS] (``global``) and object (``object``) heads, the model computes
    :func:`s3pt_mm.models.utils.collapse.collapse_statistics` of the centred, sharpened teacher distributions
    (the targets of the losses) of a monitored step: the mean entropy, the mean KL divergence to the batch
    mean, the entropy of the batch mean and the number of prototypes in use (distinct arg-max). They are
    averaged over the DDP ranks and logged as ``train/collapse/<head>_<statistic>`` (mmengine's logger and
    visualizer backends).

    DINO's two collapses (Caron et al. 2021, §5.3) both drive ``kl_to_mean`` to 0: every image gets the
    same distribution. A check is *collapsed* when ``kl_to_mean < min_kl``; the mean entropy then tells
    a uniform collapse (entropy near log K) from a one-prototype collapse (entropy near 0). After
    ``patience`` collapsed checks in a row of one head (from iteration ``start_iter`` on, since a freshly
    initialised teacher is near-uniform too), training stops with a ``RuntimeError`` saying which.

    Args:
        interval (int): iterations between checks.
        min_kl (float): the collapse threshold on ``kl_to_mean`` (nats).
        patience (int): consecutive collapsed checks that stop training; 0 = only log.
        start_iter (int): first iteration whose check can count as collapsed.
    """
    priority = 'LOW'

    def __init__(self, interval: int = 50, min_kl: float = 0.01, patience: int = 5, start_iter: int = 0):
        if interval < 1 or patience < 0 or min_kl < 0:
            raise ValueError(f'need interval >= 1, patience >= 0, min_kl >= 0; got {interval}, {patience}, '
                             f'{min_kl}')
        self.interval = interval
        self.min_kl = min_kl
        self.patience = patience
        self.start_iter = start_iter
        self.collapsed_checks: Dict[str, int] = {}

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        model.collapse_statistics = {}
        model.collect_collapse_statistics = (runner.iter + 1) % self.interval == 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._model(runner)
        if not model.collect_collapse_statistics:
            return
        model.collect_collapse_statistics = False
        for head in ('global', 'object'):
            stats = self._reduced(model.collapse_statistics.get(head))
            if stats is None:
                continue
            scalars = {f'train/collapse/{head}_{name}': stats[name] for name in STATISTICS}
            for key, value in scalars.items():
                runner.message_hub.update_scalar(key, value)
            runner.visualizer.add_scalars(scalars, step=runner.iter + 1)
            self._check(runner, head, stats)

    @staticmethod
    def _reduced(stats: Optional[Dict[str, float]]) -> Optional[Dict[str, float]]:
        """The ranks' statistics averaged (every rank takes part; a rank without rows sends weight 0)."""
        world = get_world_size()
        if world == 1:
            return stats
        values = torch.tensor([stats[n] for n in STATISTICS] + [1.0] if stats else [0.0] * (len(STATISTICS) + 1),
                              dtype=torch.float64)
        all_reduce(values)
        if values[-1] == 0:
            return None
        return {name: float(values[i] / values[-1]) for i, name in enumerate(STATISTICS)}

    def _check(self, runner, head: str, stats: Dict[str, float]) -> None:
        collapsed = runner.iter + 1 > self.start_iter and stats['kl_to_mean'] < self.min_kl
        self.collapsed_checks[head] = self.collapsed_checks.get(head, 0) + 1 if collapsed else 0
        if self.patience and self.collapsed_checks[head] >= self.patience:
            model = self._model(runner)
            num_prototypes = model.head.prototypes[head].direction.shape[0]
            log_k = torch.log(torch.tensor(float(num_prototypes))).item()
            kind = ('uniform (every distribution near 1/K)' if stats['entropy'] > 0.5 * log_k else
                    'one-prototype (every image assigned to the same few prototypes)')
            raise RuntimeError(
                f'CollapseMonitorHook: the teacher\'s {head} head has collapsed ({kind}) at iteration '
                f'{runner.iter + 1}: KL to the batch mean {stats["kl_to_mean"]:.2e} < {self.min_kl} for '
                f'{self.collapsed_checks[head]} checks in a row; mean entropy {stats["entropy"]:.3f} nats '
                f'(log K = {log_k:.3f}), {stats["prototypes_in_use"]:.0f} prototypes in use. Training '
                'stopped: check the centering, the teacher temperature and the augmentations.')
