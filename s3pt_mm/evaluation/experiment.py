"""The runs behind tools/demo.py and tools/proxy_experiment.py, on a synthetic data root (tools/demo.py
steps 1-3 make one): pre-train a demo config (``configs/demo/``) with a seed and a number of epochs, build
the random-initialisation floor, linear-probe a frozen checkpoint on nuImages, read the probe's mIoU and
per-class IoU (:mod:`s3pt_mm.seg.results`), and aggregate them over seeds (mean ± sample standard
deviation, and each method's per-seed difference to the floor of the same seed). With ``tokens`` every
frozen backbone is also measured without the Segmenter probe (k-NN and logistic regression on its tokens,
:mod:`s3pt_mm.evaluation.frozen_tokens`). Every run is a ``tools/train.py`` subprocess; a finished run
(its final checkpoint exists) is kept, an interrupted one resumes (a pre-training from its checkpoint of
every ``PRETRAIN_CHECKPOINT_EVERY`` epochs, of which only the newest is kept).

``patch_size`` (None: the configs' 16) changes the ViT's patch in pre-training (backbone and the views'
token geometry) and in the probe alike: at 96x96 crops, 8 gives 12x12 tokens per view instead of 6x6.

Imports inside functions: torch, matplotlib, mmengine, mmpretrain and the packages that register into an
OpenMMLab registry or read nuImages on import (``s3pt_mm.models``, ``s3pt_mm.seg``, ``s3pt_mm.converters``,
``s3pt_mm.utils.checkpoint``) are imported by the function that needs them, so that importing this module
(``tools/demo.py``, ``tools/proxy_experiment.py`` and their ``--help``) stays light. The rest is imported
here.
"""
import functools
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.fileio import atomic_path, write_json_atomic, write_text_atomic
from .frozen_tokens import CLASSIFIERS, PROBE_SIZE, load_split, probe_tokens

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PRETRAIN_CHECKPOINT_EVERY = 10  # epochs
PRETRAIN_CONFIGS = dict(
    dino='configs/demo/dino_vit-demo_synthetic.py',
    cribo='configs/demo/cribo_vit-demo_synthetic.py',
    cribo_vmf='configs/demo/table1/cribo-vmf_vit-demo_synthetic.py',
    cribo_vmf_many1it='configs/demo/table1/cribo-vmf-16c-1it_vit-demo_synthetic.py',
    s3pt='configs/demo/s3pt_vit-demo_synthetic.py',
)
SEG_CONFIG = 'configs/demo/segmenter-linear_vit-demo_synthetic-nuimages.py'
NAMES = dict(random='random init', dino='DINO', cribo='CrIBo', cribo_vmf='CrIBo + vMF',
             cribo_vmf_many1it='CrIBo + vMF + 16 clusters/1 it', s3pt='S3PT')
#: the model whose initialisation is the random floor
RANDOM_INIT_CONFIG = PRETRAIN_CONFIGS['s3pt']


class Progress:
    """Numbered step headers with elapsed times: ``[<tool> i/total] (   t s) text``."""

    def __init__(self, total: int, tool: str):
        self.total, self.tool, self.index, self.start = total, tool, 0, time.time()

    def elapsed(self) -> float:
        return time.time() - self.start

    def step(self, text: str) -> None:
        self.index += 1
        print(f'\n[{self.tool} {self.index}/{self.total}] ({self.elapsed():6.0f} s) {text}', flush=True)


def run_tool(*args: str) -> None:
    """Run a project tool with this interpreter from the repository root; stream its output; stop the
    calling tool (SystemExit) if it fails."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONWARNINGS='ignore')
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f'`{" ".join(args)}` failed (exit {result.returncode}); fix the problem above and '
                         'run the command again: finished runs are kept')


def pretrain_scale(patch_size: Optional[int]) -> Dict[str, int]:
    """Config changes of a demo pre-training config for ``patch_size`` (backbone + token geometry)."""
    if patch_size is None:
        return {}
    return {'model.backbone.patch_size': patch_size,
            'train_dataloader.dataset.pipeline.2.transforms.0.2.patch_size': patch_size}


def _seed_options(seed: Optional[int]) -> List[str]:
    return [] if seed is None else [f'randomness.seed={seed}']


def _loader_options(loaders: Sequence[str], workers: int) -> List[str]:
    return [option for loader in loaders for option in
            (f'{loader}.num_workers={workers}', f'{loader}.persistent_workers={workers > 0}')]


def pretrain(method: str, data_root: str, work_dir: str, epochs: int, workers: int,
             seed: Optional[int] = None, patch_size: Optional[int] = None) -> str:
    """Pre-train ``PRETRAIN_CONFIGS[method]`` on the nuScenes root ``data_root`` for ``epochs`` (>= 3);
    returns its final checkpoint (kept when it exists)."""
    final = osp.join(work_dir, f'epoch_{epochs}.pth')
    if not osp.isfile(final):
        print(f'-- {NAMES[method]}{"" if seed is None else f" (seed {seed})"} -> {work_dir}', flush=True)
        run_tool('tools/train.py', PRETRAIN_CONFIGS[method], '--work-dir', work_dir, '--resume',
                 '--cfg-options', f'train_dataloader.dataset.data_root={data_root}/',
                 f'train_cfg.max_epochs={epochs}',
                 # the schedules of configs/demo/_base_demo_pretrain.py, stretched to the epochs asked for
                 f'param_scheduler.1.T_max={epochs - 2}', f'param_scheduler.1.end={epochs}',
                 f'param_scheduler.2.T_max={epochs}', f'param_scheduler.2.end={epochs}',
                 *_loader_options(['train_dataloader'], workers),
                 f'default_hooks.checkpoint.interval={min(epochs, PRETRAIN_CHECKPOINT_EVERY)}',
                 'default_hooks.checkpoint.max_keep_ckpts=1',
                 *_seed_options(seed), *[f'{k}={v}' for k, v in pretrain_scale(patch_size).items()])
    return final


def random_init_checkpoint(path: str, seed: int = 0, patch_size: Optional[int] = None) -> str:
    """A pre-training checkpoint of the demo S3PT model right after initialisation with ``seed`` (the
    floor); kept when it exists."""
    if osp.isfile(path):
        return path
    import torch
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import s3pt_mm.models  # noqa: F401
    from s3pt_mm.utils.checkpoint import save_checkpoint_atomic
    torch.manual_seed(seed)
    cfg = Config.fromfile(osp.join(ROOT, RANDOM_INIT_CONFIG))
    cfg.merge_from_dict(pretrain_scale(patch_size))
    model = MODELS.build(cfg.model)
    model.init_weights()
    # the config in the meta, as an mmengine Runner stores it (tools/visualize.py builds the model from it)
    save_checkpoint_atomic(dict(meta=dict(cfg=cfg.pretty_text, note=f'random initialisation, seed {seed}'),
                                state_dict=model.state_dict()), path)
    return path


def linear_probe(checkpoint: str, data_root: str, work_dir: str, iters: int, workers: int, name: str,
                 seed: Optional[int] = None, patch_size: Optional[int] = None) -> str:
    """Train the Segmenter linear head on the frozen backbone of ``checkpoint`` on the nuImages root
    ``data_root`` for ``iters`` iterations and evaluate it on the val split; returns ``work_dir`` (a
    finished probe is kept)."""
    if not osp.isfile(osp.join(work_dir, f'iter_{iters}.pth')):
        print(f'-- {name} backbone{"" if seed is None else f" (seed {seed})"} -> {work_dir}', flush=True)
        run_tool('tools/train.py', SEG_CONFIG, '--work-dir', work_dir, '--cfg-options',
                 f'model.backbone.checkpoint={checkpoint}', f'train_dataloader.dataset.data_root={data_root}/',
                 f'val_dataloader.dataset.data_root={data_root}/', f'train_cfg.max_iters={iters}',
                 f'train_cfg.val_interval={iters}', f'default_hooks.checkpoint.interval={iters}',
                 f'param_scheduler.0.end={iters}',
                 *_loader_options(['train_dataloader', 'val_dataloader'], workers), *_seed_options(seed),
                 *([] if patch_size is None else [f'model.backbone.patch_size={patch_size}']))
    return work_dir


@functools.lru_cache(maxsize=4)
def _token_splits(nuimages_root: str, size: Tuple[int, int]):
    return load_split(nuimages_root, 'train', size), load_split(nuimages_root, 'val', size)


def token_probe(checkpoint: str, nuimages_root: str, path: str, patch_size: Optional[int] = None) -> dict:
    """``{classifier: scores}`` (:func:`s3pt_mm.evaluation.frozen_tokens.probe_tokens`, at
    :data:`~s3pt_mm.evaluation.frozen_tokens.PROBE_SIZE`) of the frozen backbone of ``checkpoint``, fitted on
    the train split of ``nuimages_root`` and scored on its val split; kept in ``path`` (JSON), read back
    when it exists and holds every classifier of
    :data:`~s3pt_mm.evaluation.frozen_tokens.CLASSIFIERS` (measured again otherwise)."""
    from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
    if osp.isfile(path):
        with open(path) as f:
            kept = json.load(f)
        if all(clf in kept for clf in CLASSIFIERS):
            return kept
    train, val = _token_splits(nuimages_root, PROBE_SIZE)
    scores, _ = probe_tokens(checkpoint, train, val, patch_size or 16, len(NUIMAGES_SEG_CLASSES))
    write_json_atomic(path, scores)
    return scores


def probe_metrics(work_dir: str) -> Tuple[float, Dict[str, float]]:
    """(mIoU, {class: IoU}) of the probe's last evaluation, as logged (IoU %)."""
    from s3pt_mm.seg.results import final_metrics, per_class_iou
    metrics = final_metrics(work_dir)
    return metrics['mIoU'], per_class_iou(metrics)


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of the values that are not NaN (a class absent from
    the val images is NaN); NaN where there are none, std NaN for a single value."""
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan, math.nan
    mean = sum(kept) / len(kept)
    if len(kept) == 1:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1))


def aggregate(results: Sequence[Tuple[str, Sequence[Tuple[float, Dict[str, float]]]]],
              present: Optional[Sequence[str]] = None) -> List[dict]:
    """Per backbone, its probes over seeds -> ``dict(name, n, mIoU=(mean, std), per_class={c: (mean,
    std)}, runs=[mIoU of each seed])``; with ``present`` (the classes of the val labels) also
    ``runs_present`` and ``mIoU_present``, the same over those classes only
    (:func:`s3pt_mm.seg.results.present_class_miou`)."""
    from s3pt_mm.seg.results import present_class_miou
    summary = []
    for name, probes in results:
        classes = list(dict.fromkeys(c for _, per_class in probes for c in per_class))
        row = dict(
            name=name, n=len(probes), runs=[miou for miou, _ in probes],
            mIoU=mean_std([miou for miou, _ in probes]),
            per_class={c: mean_std([per_class.get(c, math.nan) for _, per_class in probes]) for c in classes})
        if present is not None:
            row['runs_present'] = [present_class_miou(per_class, present) for _, per_class in probes]
            row['mIoU_present'] = mean_std(row['runs_present'])
        summary.append(row)
    return summary


def _pm(value: Tuple[float, float], digits: int) -> str:
    mean, std = value
    if math.isnan(mean):
        return '-'
    return f'{mean:.{digits}f}' + ('' if math.isnan(std) else f' ± {std:.{digits}f}')


def seed_table(summary: Sequence[dict], present: Optional[Sequence[str]] = None) -> str:
    """Markdown table: per backbone, the number of seeds, mIoU, with ``present`` (the rows'
    ``mIoU_present`` given) the mIoU over those classes, and per-class IoU, as mean ± std (%)."""
    classes = list(dict.fromkeys(c for row in summary for c in row['per_class']))
    means = ['mIoU'] + ([f'mIoU ({len(present)} val classes)'] if present is not None else [])
    lines = [f'| backbone | seeds | {" | ".join(means + classes)} |', '|' + '---|' * (len(classes) + len(means) + 2)]
    for row in summary:
        cells = [_pm(row[key], 2) for key in ('mIoU', 'mIoU_present')[:len(means)]]
        cells += [_pm(row['per_class'].get(c, (math.nan, math.nan)), 1) for c in classes]
        lines.append(f'| {row["name"]} | {row["n"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def paired_differences(summary: Sequence[dict], floor: str = NAMES['random'], key: str = 'runs') -> List[dict]:
    """Per backbone other than ``floor``: ``dict(name, runs=[mIoU - floor's mIoU of the same seed],
    diff=(mean, std))``. A seed moves every backbone's probe together (same head initialisation and data
    order), so these differences are sharper than the spread of either row; [] without the floor.
    ``key='runs_present'``: the same for the mIoU over the val classes (:func:`aggregate`)."""
    floors = {row['name']: row[key] for row in summary}.get(floor)
    if floors is None:
        return []
    out = []
    for row in summary:
        if row['name'] != floor:
            runs = [value - base for value, base in zip(row[key], floors)]
            out.append(dict(name=row['name'], runs=runs, diff=mean_std(runs)))
    return out


def difference_table(differences: Sequence[dict], floor: str = NAMES['random'], metric: str = 'mIoU') -> str:
    """Markdown table of :func:`paired_differences` (points of ``metric``)."""
    lines = [f'| backbone | {metric} - {floor}, per seed | mean ± std |', '|---|---|---|']
    for row in differences:
        lines.append(f'| {row["name"]} | ' + ' / '.join(f'{v:+.2f}' for v in row['runs']) +
                     f' | {_pm(row["diff"], 2)} |')
    return '\n'.join(lines)


#: the collapse monitor's teacher statistics reported per run (CollapseMonitorHook's log keys, per term)
TEACHER_STATISTICS = dict(entropy='entropy', kl_to_mean='KL to batch mean', prototypes_in_use='prototypes in use')


def final_teacher_statistics(work_dir: str) -> Dict[str, float]:
    """The teacher statistics the collapse monitor logged last in the pre-training run ``work_dir``:
    ``{'global_entropy': ..., 'object_kl_to_mean': ..., ...}`` (CollapseMonitorHook's keys without their
    ``train/collapse/`` prefix), each the record of the highest step over the run's log folders (a resumed
    run has one per start); {} when the monitor logged nothing."""
    prefix, found = 'train/collapse/', {}
    for scalars in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(scalars) as f:
            for line in f:
                record = json.loads(line)
                for key, value in record.items():
                    if key.startswith(prefix) and record.get('step', -1) >= found.get(key, (-1, None))[0]:
                        found[key] = (record.get('step', -1), value)
    return {key[len(prefix):]: value for key, (_, value) in found.items()}


def teacher_table(methods: Sequence[str], per_seed: Sequence[dict]) -> str:
    """Markdown table of the pre-trained teachers' final statistics (:func:`final_teacher_statistics`) as mean ±
    std over the seeds, for the global term (Eq. 1's image-level term) and the object term."""
    columns = [(f'{term}_{stat}', f'{term} {name}') for term in ('global', 'object')
               for stat, name in TEACHER_STATISTICS.items()]
    keys = [key for key, _ in columns]
    header = ' | '.join(title for _, title in columns)
    lines = [f'| teacher | seeds | {header} |', '|' + '---|' * (2 + len(keys))]
    for method in methods:
        stats = [done['teacher'][method] for done in per_seed if done['teacher'].get(method)]
        if stats:
            cells = [_pm(mean_std([s.get(key, math.nan) for s in stats]), 2) for key in keys]
            lines.append(f'| {NAMES[method]} | {len(stats)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def token_table(methods: Sequence[str], per_seed: Sequence[dict]) -> str:
    """Markdown table of the token probes of :func:`run_seeds` (``token_probe=True``): per backbone, token
    accuracy and token mIoU of each classifier as mean ± std over the seeds (%)."""
    header = ' | '.join(f'{clf} token {what}' for clf in CLASSIFIERS for what in ('acc', 'mIoU'))
    lines = [f'| backbone | seeds | {header} |', '|' + '---|' * (2 + 2 * len(CLASSIFIERS))]
    for method in methods:
        cells = [_pm(mean_std([done['tokens'][method][clf][key] for done in per_seed]), 2)
                 for clf in CLASSIFIERS for key in ('accuracy', 'miou')]
        lines.append(f'| {NAMES[method]} | {len(per_seed)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def seed_csv(summary: Sequence[dict]) -> str:
    """CSV: backbone, seeds, then mean and std of mIoU, of the mIoU over the val classes (when the rows have
    it) and of each class (empty where NaN)."""
    classes = list(dict.fromkeys(c for row in summary for c in row['per_class']))
    means = ['mIoU'] + (['mIoU_present'] if summary and 'mIoU_present' in summary[0] else [])
    header = ['backbone', 'seeds'] + [f'{c}_{s}' for c in means + classes for s in ('mean', 'std')]
    lines = [','.join(header)]
    for row in summary:
        values = [v for key in means for v in row[key]]
        values += [v for c in classes for v in row['per_class'].get(c, (math.nan, math.nan))]
        lines.append(','.join([f'"{row["name"]}"', str(row['n'])] +
                              ['' if math.isnan(v) else f'{v:.4f}' for v in values]))
    return '\n'.join(lines) + '\n'


def seed_chart(summary: Sequence[dict], path: str, title: str) -> None:
    """Grouped bar chart (PNG): mIoU and each class's IoU per backbone, error bars = std over seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    groups = ['mIoU'] + list(dict.fromkeys(c for row in summary for c in row['per_class']))
    width = 0.8 / len(summary)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.6 * len(groups) * (1 + 0.1 * len(summary))), 4.5))
    for i, row in enumerate(summary):
        pairs = [row['mIoU']] + [row['per_class'].get(c, (math.nan, math.nan)) for c in groups[1:]]
        means = [0.0 if math.isnan(m) else m for m, _ in pairs]
        stds = [0.0 if math.isnan(s) else s for _, s in pairs]
        ax.bar([g + (i - (len(summary) - 1) / 2) * width for g in range(len(groups))], means, width, yerr=stds,
               capsize=2, label=f'{row["name"]} (n={row["n"]})')
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha='right')
    ax.set_ylabel('IoU % (mean ± std over seeds)')
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format='png')
    plt.close(fig)


def run_seeds(methods: Sequence[str], seeds: Sequence[int], data_root: str, out: str, epochs: int,
              iters: int, workers: int, progress: Progress, patch_size: Optional[int] = None,
              tokens: bool = False) -> List[dict]:
    """For each seed (one progress step each): every method of ``methods`` (``'random'``: the floor built
    with that seed) pre-trained on ``data_root``/nuscenes and linear-probed on ``data_root``/nuimages,
    under ``out``/seed<s>/ (pretrain_<method>, random_init.pth, linear_<method>); with ``tokens`` also
    token-probed (:func:`token_probe`, kept in tokens_<method>.json).

    Returns, per seed, ``dict(seed, checkpoints={method: path}, probes={method: work dir},
    metrics={method: (mIoU, {class: IoU})}, tokens={method: token probe scores} (empty without
    ``tokens``), teacher={method: final teacher statistics} (pre-trained methods))``."""
    nuscenes, nuimages = osp.join(data_root, 'nuscenes'), osp.join(data_root, 'nuimages')
    per_seed = []
    for seed in seeds:
        progress.step(f'seed {seed}: {", ".join(NAMES[m] for m in methods)} ({epochs} pre-training epochs, '
                      f'{iters} probe iterations)')
        seed_dir = osp.join(out, f'seed{seed}')
        done = dict(seed=seed, checkpoints={}, probes={}, metrics={}, tokens={}, teacher={})
        for method in methods:
            if method == 'random':
                checkpoint = random_init_checkpoint(osp.join(seed_dir, 'random_init.pth'), seed, patch_size)
            else:
                checkpoint = pretrain(method, nuscenes, osp.join(seed_dir, f'pretrain_{method}'), epochs, workers,
                                      seed, patch_size)
                done['teacher'][method] = final_teacher_statistics(osp.dirname(checkpoint))
            work_dir = linear_probe(checkpoint, nuimages, osp.join(seed_dir, f'linear_{method}'), iters, workers,
                                    NAMES[method], seed, patch_size)
            done['checkpoints'][method], done['probes'][method] = checkpoint, work_dir
            done['metrics'][method] = probe_metrics(work_dir)
            print(f'   {NAMES[method]}, seed {seed}: mIoU {done["metrics"][method][0]:.2f}', flush=True)
            if tokens:
                scores = token_probe(checkpoint, nuimages, osp.join(seed_dir, f'tokens_{method}.json'), patch_size)
                done['tokens'][method] = scores
                print(f'   {NAMES[method]}, seed {seed}: token probe ' + ', '.join(
                    f'{clf} {scores[clf]["accuracy"]:.1f} % acc / {scores[clf]["miou"]:.2f} mIoU'
                    for clf in CLASSIFIERS), flush=True)
        per_seed.append(done)
    return per_seed


def val_classes(nuimages_root: str) -> List[str]:
    """The classes with at least one pixel in the val labels of a nuImages root, in class-id order."""
    from s3pt_mm.converters.nuimages_seg import split_class_pixels
    from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
    return [c for c, pixels in zip(NUIMAGES_SEG_CLASSES, split_class_pixels(nuimages_root, 'val')) if pixels]


def write_report(out: str, setup: str, methods: Sequence[str], per_seed: Sequence[dict],
                 elapsed: float, nuimages_root: str) -> str:
    """``out``/results.md (mean ± std table, mIoU per seed, the paired differences to the floor when it
    was run, the token probes when they were run, run time), results.json, results.csv and results.png
    (bar chart with error bars) of :func:`run_seeds`' probes; returns the text to print.

    Beside mmseg's mIoU, every table gives the mIoU over the classes present in the val labels of
    ``nuimages_root`` (:func:`val_classes`, :func:`s3pt_mm.seg.results.present_class_miou`): mmseg's
    mean counts a class absent from them as 0 for a probe that predicts a pixel of it and leaves it out
    for one that predicts none, so only the second has the same classes in every row."""
    from s3pt_mm.seg.classes import NUIMAGES_SEG_CLASSES
    present = val_classes(nuimages_root)
    absent = [c for c in NUIMAGES_SEG_CLASSES if c not in present]
    summary = aggregate([(NAMES[m], [done['metrics'][m] for done in per_seed]) for m in methods], present)
    differences = {key: paired_differences(summary, key=key) for key in ('runs', 'runs_present')}
    with_tokens = all(m in done['tokens'] for done in per_seed for m in methods)
    seeds = ' '.join(str(done['seed']) for done in per_seed)
    text = (f'Linear probing, synthetic nuImages val (IoU %, mean ± sample std over seeds {seeds}; mIoU as mmseg '
            f'computes it, then over the {len(present)} classes present in the val labels, without '
            f'{", ".join(absent) or "none"}):\n{seed_table(summary, present)}')
    for key, metric in (('runs', 'mIoU'), ('runs_present', f'mIoU over the {len(present)} val classes')):
        text += f'\n\n{metric} per seed ({seeds}): ' + '; '.join(
            f'{row["name"]}: ' + ' / '.join(f'{v:.2f}' for v in row[key]) for row in summary)
        if differences[key]:
            text += (f'\nDifference to the random-init floor of the same seed ({metric}, points):\n'
                     f'{difference_table(differences[key], metric=metric)}')
    if with_tokens:
        text += (f'\n\nToken probe (no Segmenter head: each val token\'s patch-majority class predicted from the '
                 f'frozen tokens by a cosine k-NN and a logistic regression fitted on the train tokens, and by the '
                 f'logistic regression given the tokens and their row and column; '
                 f'{PROBE_SIZE[0]}x{PROBE_SIZE[1]} input; %, mean ± std over seeds {seeds}):\n'
                 f'{token_table(methods, per_seed)}')
    if any(done['teacher'].get(m) for done in per_seed for m in methods):
        text += (f'\n\nTeachers at the end of pre-training (the collapse monitor\'s last check: mean entropy of the '
                 f'teacher\'s probabilities per row (an image for the global term, an object for the object term; '
                 f'nats), their KL divergence to the batch mean, prototypes that are some row\'s argmax; '
                 f'mean ± std over seeds {seeds}):\n{teacher_table(methods, per_seed)}')
    write_text_atomic(osp.join(out, 'results.md'),
                      f'# Linear probing of frozen backbones on synthetic nuImages\n\n{setup}\n\n{text}\n\n'
                      f'Run time: {elapsed:.0f} s (finished runs found in {out} are reused, not timed again).\n')
    write_json_atomic(osp.join(out, 'results.json'), dict(
        setup=setup, seeds=[done['seed'] for done in per_seed], val_classes=present, summary=summary,
        differences=differences['runs'], differences_present=differences['runs_present'],
        runs={NAMES[m]: [dict(seed=done['seed'], mIoU=done['metrics'][m][0], per_class=done['metrics'][m][1],
                              **({'tokens': done['tokens'][m]} if with_tokens else {}),
                              **({'teacher': done['teacher'][m]} if done['teacher'].get(m) else {}))
                         for done in per_seed] for m in methods}))
    write_text_atomic(osp.join(out, 'results.csv'), seed_csv(summary))
    seed_chart(summary, osp.join(out, 'results.png'), f'Linear probing, synthetic nuImages\n{setup}')
    return text + f'\nwritten to {out}/results.md, results.json, results.csv, results.png'
