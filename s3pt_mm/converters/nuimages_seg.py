"""nuImages annotations -> semantic segmentation labels for mmseg (``tools/dataset_converters/nuimages_seg.py``).

For every annotated keyframe of a nuImages version the converter writes one label PNG (uint8 class ids
of :data:`~s3pt_mm.seg.classes.NUIMAGES_SEG_CLASSES`, 255 ignored; the dataset that reads them is
:class:`~s3pt_mm.seg.NuImagesSegDataset`) and lists the image in the split file
of that version, inside the nuImages dataroot (or ``out_dir``)::

    <dataroot>/samples/CAM_*/<name>.jpg                      nuImages images (read, never written)
    <out_dir>/semantic_labels/samples/CAM_*/<name>.png       labels
    <out_dir>/semantic_labels/classes.txt                   the class names of the ids, one per line
    <out_dir>/semantic_splits/{train,val,mini}.txt          samples/CAM_*/<name> per line, per version

Pixels are labelled as ``NuImages.get_segmentation`` does: surface masks (driveable surface, ego
vehicle) over the background, then the object masks in the order of their tokens, a later object over
an earlier one. Only the class mapping differs (:func:`~s3pt_mm.seg.classes.nuimages_class_id`).
The annotations are indexed once instead of scanned per image, so converting the full dataset takes
minutes rather than hours. Every file is written to a temporary name and renamed, so an interrupted
conversion leaves only complete files, and a second run skips the labels that exist, after checking in
``classes.txt`` that they were written for the same classes (labels of the former 12-class converter, with
the ego vehicle as 255, must be rewritten with ``overwrite``).
"""
import os.path as osp
from collections import defaultdict
from multiprocessing import Pool
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from nuimages import NuImages
from nuimages.utils.utils import mask_decode
from PIL import Image
from tqdm import tqdm

from ..seg.classes import NUIMAGES_SEG_CLASSES, nuimages_class_id
from ..utils.fileio import atomic_path, write_text_atomic
from ..utils.nuscenes_constants import NUIMAGES_TABLES, NUIMAGES_VERSIONS, check_dataroot

LABEL_DIR = 'semantic_labels'
SPLIT_DIR = 'semantic_splits'
CLASSES_RECORD = 'classes.txt'

# (class id, nuImages mask record {'size': [H, W], 'counts': base64 RLE}) in drawing order.
Layer = Tuple[int, dict]


def render_label(height: int, width: int, layers: Sequence[Layer]) -> np.ndarray:
    """uint8 (H, W) label of one image: background 0 painted over by ``layers`` in order."""
    label = np.zeros((height, width), dtype=np.uint8)
    for class_id, mask in layers:
        label[mask_decode(mask) == 1] = class_id
    return label


def split_name(version: str) -> str:
    """Split file stem of a nuImages version: ``'v1.0-train'`` -> ``'train'``."""
    return version.split('-', 1)[-1]


def split_names(root: str, split: str) -> List[str]:
    """The images of a split file written by :func:`convert_version` (``samples/CAM_*/<name>`` each).

    Raises:
        FileNotFoundError: ``<root>/semantic_splits/<split>.txt`` does not exist.
    """
    split_file = osp.join(root, SPLIT_DIR, f'{split}.txt')
    if not osp.isfile(split_file):
        raise FileNotFoundError(f'split file not found: {split_file} (run tools/dataset_converters/nuimages_seg.py)')
    with open(split_file) as f:
        return f.read().split()


def split_class_pixels(root: str, split: str, num_classes: int = len(NUIMAGES_SEG_CLASSES)) -> np.ndarray:
    """(num_classes,) int64: the pixels of each class id in the labels of a split (255 and other ids
    outside ``[0, num_classes)`` not counted).

    Raises:
        FileNotFoundError: the split file or one of its labels is missing or unreadable.
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    for name in split_names(root, split):
        path = osp.join(root, LABEL_DIR, name + '.png')
        try:
            label = np.asarray(Image.open(path))
        except (OSError, ValueError) as error:
            raise FileNotFoundError(f'cannot read the label {path}: {error}')
        counts += np.bincount(label[label < num_classes].ravel(), minlength=num_classes)[:num_classes]
    return counts


def _image_layers(nuim) -> Dict[str, List[Layer]]:
    """sample_data token -> label layers, in NuImages.get_segmentation's drawing order."""
    class_of = {c['token']: nuimages_class_id(c['name']) for c in nuim.category}
    surfaces, objects = defaultdict(list), defaultdict(list)
    for ann in nuim.surface_ann:
        if ann['mask'] is not None:
            surfaces[ann['sample_data_token']].append((class_of[ann['category_token']], ann['mask']))
    for ann in nuim.object_ann:
        if ann['mask'] is not None:
            objects[ann['sample_data_token']].append(
                (ann['token'], class_of[ann['category_token']], ann['mask']))
    return {token: surfaces.get(token, []) + [(c, m) for _, c, m in sorted(objects.get(token, []))]
            for token in set(surfaces) | set(objects)}


def _write_label(job: Tuple[str, int, int, List[Layer]]) -> None:
    path, height, width, layers = job
    label = render_label(height, width, layers)
    with atomic_path(path) as tmp:
        Image.fromarray(label).save(tmp)


def convert_version(dataroot: str, version: str, out_dir: Optional[str] = None, workers: int = 1,
                    overwrite: bool = False, progress: bool = True) -> Dict[str, int]:
    """Write the labels and the split file of one nuImages version.

    Args:
        dataroot: nuImages dataroot (holds ``samples/`` and ``<version>/``).
        version: ``'v1.0-train'``, ``'v1.0-val'`` or ``'v1.0-mini'``.
        out_dir: where ``semantic_labels/`` and ``semantic_splits/`` go; the dataroot by default.
        workers: processes that decode and write the labels.
        overwrite: rewrite labels that exist (by default they are kept: resuming).
        progress: show a progress bar.

    Returns:
        ``{'images': ..., 'written': ..., 'skipped': ...}``.
    """
    if split_name(version) == 'test':
        raise ValueError(f'{version} has no annotations to convert; use v1.0-train, v1.0-val or v1.0-mini')
    check_dataroot(dataroot, version, NUIMAGES_VERSIONS, NUIMAGES_TABLES, 'nuImages dataroot')
    out_dir = out_dir or dataroot
    try:  # the devkit asserts on missing tables; they load lazily, on first use
        nuim = NuImages(version=version, dataroot=dataroot, lazy=True, verbose=False)
        layers = _image_layers(nuim)
        keyframes = [nuim.get('sample_data', sample['key_camera_token']) for sample in nuim.sample]
    except AssertionError as error:
        raise FileNotFoundError(f'{osp.join(dataroot, version)} is not a complete nuImages release: {error}')
    names, jobs = [], []
    for sample_data in keyframes:
        name = osp.splitext(sample_data['filename'])[0]
        names.append(name)
        path = osp.join(out_dir, LABEL_DIR, name + '.png')
        if overwrite or not osp.isfile(path):
            jobs.append((path, sample_data['height'], sample_data['width'],
                         layers.get(sample_data['token'], [])))
    names.sort()
    _check_class_record(osp.join(out_dir, LABEL_DIR, CLASSES_RECORD), kept=len(names) - len(jobs))
    with tqdm(total=len(jobs), desc=f'{version} labels', unit='img', disable=not progress) as bar:
        for _ in _run(jobs, workers):
            bar.update()
    write_text_atomic(osp.join(out_dir, SPLIT_DIR, split_name(version) + '.txt'),
                      ''.join(n + '\n' for n in names))
    return dict(images=len(names), written=len(jobs), skipped=len(names) - len(jobs))


def _check_class_record(path: str, kept: int) -> None:
    """Refuse to keep labels written for other classes; record the classes of the labels written now."""
    expected = ''.join(name + '\n' for name in NUIMAGES_SEG_CLASSES)
    found = None
    if osp.isfile(path):
        with open(path) as f:
            found = f.read()
    if kept and found != expected:
        what = 'no class record' if found is None else f'classes {found.split()!r}'
        raise ValueError(f'{path}: {kept} existing labels were written with {what}, not the current '
                         f'{len(NUIMAGES_SEG_CLASSES)} classes; rerun with --overwrite to rewrite them')
    if found != expected:
        write_text_atomic(path, expected)


def _run(jobs: list, workers: int) -> Iterator[None]:
    if workers <= 1:
        yield from map(_write_label, jobs)
        return
    with Pool(workers) as pool:
        yield from pool.imap_unordered(_write_label, jobs, chunksize=8)
