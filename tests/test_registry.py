"""s3pt_mm's parts are registered in the OpenMMLab registries, and each stage imports only what it needs."""
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
