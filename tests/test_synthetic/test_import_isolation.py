"""The synthetic data generator needs neither the OpenMMLab stack nor torch: importing it, and running
tools/make_synthetic_data.py, load none of them."""
import subprocess
import sys

from tests.helpers import ROOT

HEAVY = ('mmengine', 'mmcv', 'mmpretrain', 'mmseg', 'mmdet', 'mmdet3d', 'torch')
CHECK = f'bad = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]; assert not bad, bad'


def test_importing_the_generator_loads_no_openmmlab_package():
    subprocess.run([sys.executable, '-c', f'import sys, s3pt_mm.synthetic; {CHECK}'], check=True, cwd=ROOT)


def test_make_synthetic_data_runs_without_openmmlab(tmp_path):
    argv = [str(tmp_path / 'out'), '--scenes', '1', '--samples-per-scene', '1', '--image-size', '18', '32',
            '--lidar-azimuth-step', '2']
    code = (f'import runpy, sys; tool = runpy.run_path("tools/make_synthetic_data.py"); '
            f'assert tool["main"]({argv!r}) == 0; {CHECK}')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)
    assert (tmp_path / 'out' / 'nuscenes' / 'v1.0-mini' / 'sample.json').is_file()
