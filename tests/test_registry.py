"""s3pt_mm's parts are registered in the OpenMMLab registries, and each stage imports only what it needs."""
import importlib.util
import subprocess
import sys

from mmpretrain.registry import HOOKS, MODELS


def test_pretraining_parts_are_registered():
    import s3pt_mm.engine  # noqa: F401
    import s3pt_mm.models  # noqa: F401
    for name in ('S3PT', 'DINOProjectionHead', 'DINOLoss', 'SinkhornSpatialClustering'):
        assert MODELS.get(name) is not None, name
    for name in ('TeacherEMAHook', 'TeacherTempWarmupHook', 'FreezePrototypesHook'):
        assert HOOKS.get(name) is not None, name


def test_pretraining_does_not_import_mmseg_or_mmdet3d():
    code = ('import sys, s3pt_mm, s3pt_mm.models, s3pt_mm.engine; '
            'bad = [m for m in ("mmseg", "mmdet3d") if m in sys.modules]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_downstream_tasks_do_not_import_the_pretraining_stack():
    packages = ['s3pt_mm.seg'] + (['s3pt_mm.det3d'] if importlib.util.find_spec('mmdet3d') else [])
    for package in packages:
        code = (f'import sys, {package}; '
                'bad = [m for m in ("s3pt_mm.models", "s3pt_mm.engine", "s3pt_mm.datasets") if m in sys.modules]; '
                'assert not bad, bad')
        subprocess.run([sys.executable, '-c', code], check=True)
