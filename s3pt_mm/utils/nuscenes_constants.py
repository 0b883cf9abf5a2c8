"""What the nuScenes and nuImages releases look like on disk: the cameras, the versions and their official
splits, the tables, and the check that a dataroot holds a version. Standard library only, so that the
converters and the synthetic data generator share it without importing anything heavy."""
import os
import os.path as osp
from typing import Collection, Dict, Sequence, Tuple

__all__ = ['CAMERAS', 'NUSCENES_SPLITS', 'NUSCENES_TABLES', 'NUIMAGES_VERSIONS', 'NUIMAGES_TABLES',
           'check_dataroot']

#: The six cameras of the nuScenes rig, in the order of mmdet3d's converter (the order of ``images`` in the
#: mmdet3d infos, and so of the views of a PETR sample).
CAMERAS: Tuple[str, ...] = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
                            'CAM_BACK_RIGHT')

#: nuScenes versions and their official scene splits (``nuscenes.utils.splits``): (train, val) or (test,).
NUSCENES_SPLITS: Dict[str, Tuple[str, ...]] = {
    'v1.0-mini': ('mini_train', 'mini_val'),
    'v1.0-trainval': ('train', 'val'),
    'v1.0-test': ('test', ),
}
#: The nuScenes tables the converters read.
NUSCENES_TABLES = ('sample', 'sample_data', 'calibrated_sensor', 'ego_pose', 'scene')

#: nuImages versions (one split each; ``v1.0-test`` has no annotations).
NUIMAGES_VERSIONS = ('v1.0-mini', 'v1.0-train', 'v1.0-val', 'v1.0-test')
#: The nuImages tables the segmentation converter reads.
NUIMAGES_TABLES = ('category', 'sample', 'sample_data', 'surface_ann', 'object_ann')


def check_dataroot(root: str, version: str, versions: Collection[str],
                   tables: Sequence[str], root_name: str) -> None:
    """Raise a clear error for a dataroot / version that is not a release holding ``tables`` (before the
    devkits' own assertions).

    Args:
        root: the dataroot (holds ``samples/`` and ``<version>/``).
        version: e.g. ``'v1.0-mini'``; must be one of ``versions``.
        versions: the known versions (e.g. :data:`NUSCENES_SPLITS` or :data:`NUIMAGES_VERSIONS`).
        tables: table names that must exist as ``<root>/<version>/<table>.json``.
        root_name: how the messages call the dataroot, e.g. ``'nuScenes root'``.

    Raises:
        ValueError: unknown version. FileNotFoundError: no such root, or a table is missing (the message
        lists the versions found in the root).
    """
    if version not in versions:
        raise ValueError(f'{root_name}: version {version!r} not found among the known versions '
                         f'{sorted(versions)}')
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root_name} not found: {root}')
    for table in tables:
        path = osp.join(root, version, f'{table}.json')
        if not osp.isfile(path):
            found = sorted(d for d in os.listdir(root) if d.startswith('v1.0-'))
            raise FileNotFoundError(
                f'{path} not found: {root} is not a {root_name} with version {version!r} (versions found: '
                f'{", ".join(found) or "none"})')
