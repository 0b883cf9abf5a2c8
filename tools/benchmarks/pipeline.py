"""CPU time per image of a pre-training data pipeline, in total and per transform.

The pipeline runs in this process with one OpenCV thread and one torch thread, as in a data-loader worker
(mmengine sets one OpenCV thread per worker, PyTorch's worker loop one torch thread), on one full-size
nuScenes-like frame: a 900x1600 JPEG (quality 95, a colour ramp under Gaussian noise of std 20: about 1 MB,
a hard case for the JPEG decoder) with its 450x800 16-bit depth PNG made as ``tools/create_data.py`` makes
them (a projected 32-beam sweep completed by IP-Basic); or that frame as ``tools/create_data.py
--image-scale 0.5`` stores it (a 450x800 JPEG, the same depth PNG).

The configs that render the views on the device (``*_device-views.py``) are timed too: the workers' part here,
and the data preprocessor's decoding and rendering of a batch on the benchmark's device (:func:`render_timing`).

"Before" is the config's pipeline with the generic transforms it replaced (:func:`generic_pipeline`: mmcv's
``LoadImageFromFile``, ``LoadDepthFromFile`` upsampling to the image, mmpretrain's ``ColorJitter`` and
``GaussianBlur``).

Times are the thread's CPU time (``time.thread_time``), which other jobs on the machine disturb less than
wall time. Each transform is timed exclusive of the transforms it runs (a ``MultiViewWithDepth`` row is its
own work: decoding, copies, collecting the views; a ``RandomApply`` row its coin flip), summed over the views
of a sample, so the rows add up to the total.
"""
import os.path as osp
import time
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np


#: transforms of the pre-training configs -> the generic transforms they replaced
GENERIC = {'LoadImageForCrops': 'LoadImageFromFile', 'FastColorJitter': 'ColorJitter',
           'FastGaussianBlur': 'GaussianBlur'}


def generic_pipeline(obj):
    """A copy of the pipeline config ``obj`` with the generic transforms (``GENERIC``, and
    ``LoadDepthFromFile(upsample=True)``)."""
    if isinstance(obj, dict):
        obj = {key: generic_pipeline(value) for key, value in obj.items()}
        obj['type'] = GENERIC.get(obj.get('type'), obj.get('type'))
        if obj.get('type') == 'LoadDepthFromFile':
            obj['upsample'] = True
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(generic_pipeline(value) for value in obj)
    return obj


def write_frame(directory: str, image: Optional[str] = None, depth: Optional[str] = None) -> dict:
    """The benchmark frame (900x1600 JPEG, 450x800 depth PNG), or the user's ``image`` (with its 16-bit
    ``depth`` PNG as tools/create_data.py writes it, else the benchmark's sweep at half its size), in
    ``directory``. Returns the info dict of a pre-training sample."""
    import shutil

    import cv2

    from s3pt_mm.converters.nuscenes_pretrain import DEPTH_SCALE
    from s3pt_mm.depth import fill_in_fast

    from benchmark import projected_sweep_depth
    img_path, depth_path = osp.join(directory, 'cam.jpg'), osp.join(directory, 'depth.png')
    if image is None:
        rng = np.random.default_rng(0)
        ramp = np.linspace(0, 200, 1600, dtype=np.float32)[None, :, None] + np.linspace(0, 50, 900)[:, None, None]
        pixels = np.clip(ramp + rng.normal(0, 20, (900, 1600, 3)), 0, 255).astype(np.uint8)
        cv2.imwrite(img_path, pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
    else:
        shutil.copyfile(image, img_path)
    if depth is None:
        height, width = _image_size(img_path)
        sweep = fill_in_fast(projected_sweep_depth(height // 2, width // 2))
        cv2.imwrite(depth_path, np.round(sweep * DEPTH_SCALE).astype(np.uint16))
    else:
        shutil.copyfile(depth, depth_path)
    return dict(img_path=img_path, depth_path=depth_path, depth_scale=DEPTH_SCALE)


def scaled_frame(info: dict, image_scale: float) -> dict:
    """The frame ``info`` as ``tools/create_data.py --image-scale`` stores it: the resized JPEG beside the
    original, the same depth PNG."""
    from s3pt_mm.converters.nuscenes_pretrain import scaled_size, write_scaled_image
    scaled = osp.join(osp.dirname(info['img_path']), f'cam_scaled_{image_scale:g}.jpg')
    with open(info['img_path'], 'rb') as f:
        write_scaled_image(f.read(), scaled, scaled_size(*_image_size(info['img_path']), image_scale))
    return dict(info, img_path=scaled)


def _image_size(path: str):
    from PIL import Image
    with Image.open(path) as image:
        return image.size[::-1]


class _Clock:
    """Exclusive CPU time per label: a stack of the children's time of the transforms now running."""

    def __init__(self):
        self.totals: Dict[str, float] = defaultdict(float)
        self.stack: List[float] = []

    def run(self, label, transform, results):
        start = time.thread_time()
        self.stack.append(0.0)
        try:
            return transform(results)
        finally:
            elapsed = time.thread_time() - start
            children = self.stack.pop()
            self.totals[label] += elapsed - children
            if self.stack:
                self.stack[-1] += elapsed


class _Timed:
    def __init__(self, clock, label, transform):
        self.clock, self.label, self.transform = clock, label, transform

    def __call__(self, results):
        return self.clock.run(self.label, self.transform, results)


def _instrument(compose, clock, prefix=''):
    """Wrap every transform of an mmcv ``Compose`` (and the view pipelines of a ``MultiViewWithDepth``,
    the transforms of a ``RandomApply``) in a timer."""
    for index, transform in enumerate(compose.transforms):
        name = type(transform).__name__
        if name == 'RandomResizedCropWithDepth':
            name = f'{name} ({transform.size}x{transform.size})'
        clock.totals[prefix + name] += 0.0  # rows in pipeline order
        for group, pipeline in enumerate(getattr(transform, 'pipelines', [])):
            _instrument(pipeline, clock, f'{prefix}views {group}: ')
        if name == 'RandomApply':
            _instrument(transform.transforms, clock, prefix)
        compose.transforms[index] = _Timed(clock, prefix + name, transform)


def profile_pipeline(pipeline_cfg: list, info: dict, repeats: int) -> dict:
    """Run ``pipeline_cfg`` ``repeats`` times (after one warm-up run) on ``info``.

    Returns:
        dict: ``total`` (median CPU ms per image) and ``per_transform`` {label: mean exclusive CPU ms per
        image}, in pipeline order.
    """
    import cv2
    import torch
    from mmcv.transforms import Compose
    pipeline = Compose(pipeline_cfg)
    clock = _Clock()
    _instrument(pipeline, clock)
    threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        pipeline(dict(info))
        for label in clock.totals:
            clock.totals[label] = 0.0
        cpu = []
        for _ in range(repeats):
            start = time.thread_time()
            pipeline(dict(info))
            cpu.append(time.thread_time() - start)
    finally:
        cv2.setNumThreads(threads)
        torch.set_num_threads(torch_threads)
    return dict(total=float(np.median(cpu)) * 1000,
                per_transform={label: 1000 * seconds / repeats for label, seconds in clock.totals.items()})


def _row(label: str) -> str:
    """A transform's row in the before/after table: a replaced transform shares the row of its replacement."""
    for ours, theirs in GENERIC.items():
        label = label.replace(ours, theirs)
    return label.replace('LoadImageFromFile', 'LoadImageFromFile / LoadImageForCrops').replace(
        'ColorJitter', '(Fast)ColorJitter').replace('GaussianBlur', '(Fast)GaussianBlur')


def pipeline_table(figures: dict) -> str:
    """Markdown tables of the per-transform CPU ms per image of the ``pipeline`` section, one per method,
    the runs side by side."""
    tables = []
    for method in dict.fromkeys(key.split(' | ')[0] for key in figures if key.endswith('| per transform')):
        runs = {key.split(' | ')[1]: value for key, value in figures.items()
                if key.startswith(method + ' | ') and key.endswith('| per transform')}
        rows = {}
        for run, per_transform in runs.items():
            for label, ms in per_transform.items():
                rows.setdefault(_row(label), {})[run] = ms
        lines = [f'\n{method}: CPU ms per image, per transform (exclusive of the transforms it runs; summed '
                 'over the views)', '| transform | ' + ' | '.join(runs) + ' |', '|---' * (len(runs) + 1) + '|']
        for row, values in rows.items():
            lines.append(f'| {row} | ' + ' | '.join(f'{values[run]:.2f}' if run in values else '-'
                                                    for run in runs) + ' |')
        lines.append('| **total (median per image)** | ' + ' | '.join(
            f"**{figures[f'{method} | {run} | CPU ms/image']:.2f}**" for run in runs) + ' |')
        tables.append('\n'.join(lines))
    return '\n'.join(tables)


def render_timing(cfg, info: dict, method: str, device: str, repeats: int, batch_size: int) -> dict:
    """Milliseconds the data preprocessor of the config ``cfg`` (a ``*_device-views.py`` config:
    ``DeferredViewsDataPreprocessor``) takes on ``device`` to decode and render one batch of ``batch_size``
    samples of its pipeline: median of ``repeats`` batches after a warm-up (a CPU device uses all its
    threads)."""
    import torch
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate
    from mmpretrain.registry import MODELS

    import s3pt_mm.models  # noqa: F401
    from pretrain_step import synchronize
    device = torch.device(device)
    preprocessor = MODELS.build(cfg.model.data_preprocessor).to(device)
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    batch = default_collate([pipeline(dict(info)) for _ in range(batch_size)])
    seconds = []
    for _ in range(repeats + 1):
        synchronize(device)
        start = time.perf_counter()
        preprocessor(batch)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else f'CPU, {torch.get_num_threads()} threads'
    ms = 1000 * float(np.median(seconds[1:]))
    return {f'{method} | rendering on the device ({name}) | ms per batch of {batch_size}': ms,
            f'{method} | rendering on the device ({name}) | images/s': 1000 * batch_size / ms}
