"""The locked environment (tools/env_lock.py, used by tools/setup_env.sh): the venv the tests run in is
exactly requirements/lock.txt, and the comparison finds every kind of difference."""
import sys

import pytest

from tests.helpers import ROOT, run_tool

sys.path.insert(0, str(ROOT / 'tools'))
import env_lock  # noqa: E402


def test_the_test_environment_is_the_locked_one():
    """What `bash tools/setup_env.sh` installs on a fresh machine is what CI passed with: every locked
    distribution at its version, and nothing else but mmcv and s3pt_mm."""
    result = run_tool('tools/env_lock.py', 'check', check=False)
    assert result.returncode == 0, result.stderr
    lock = env_lock.read_lock(str(ROOT / 'requirements' / 'lock.txt'))
    # the pins the environment is built around are in it, at the versions requirements/ ask for
    assert lock['torch'] == '2.14.1' and lock['mmengine'] == '0.10.7' and lock['mmsegmentation'] == '1.2.2'
    assert lock['numpy'].startswith('1.') and 'mmcv' not in lock and 's3pt-mm' not in lock


def test_differences_name_missing_extra_and_other_versions():
    lock = {'numpy': '1.26.4', 'scikit-learn': '1.7.2', 'pip': '26.3'}
    found = {'numpy': '1.26.4', 'scikit-learn': '1.9.1', 'ninja': '1.13.2'}
    assert env_lock.differences(lock, found) == [
        'not in the lock: ninja==1.13.2', 'missing: pip==26.3', 'other version: scikit-learn==1.9.1 (lock: 1.7.2)']
    assert env_lock.differences(lock, dict(lock)) == []


def test_names_are_compared_normalised(tmp_path):
    path = tmp_path / 'lock.txt'
    path.write_text('# a comment\nScikit_Learn==1.9.1\nruamel.yaml==0.18.0  # trailing comment\n\n')
    assert env_lock.read_lock(str(path)) == {'scikit-learn': '1.9.1', 'ruamel-yaml': '0.18.0'}


def test_a_line_that_is_not_an_exact_pin_is_an_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / 'lock.txt'
    path.write_text('numpy==1.26.4\nscipy>=1.10\n')
    with pytest.raises(ValueError, match=r'lock\.txt:2: expected "name==version", got \'scipy>=1.10\''):
        env_lock.read_lock(str(path))


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / 'lock.txt'
    env_lock.write_lock(str(path), {'torch': '2.14.1', 'absl-py': '2.5.1'})
    text = path.read_text()
    assert text.startswith(env_lock.HEADER) and text.index('absl-py') < text.index('torch')
    assert env_lock.read_lock(str(path)) == {'torch': '2.14.1', 'absl-py': '2.5.1'}
    assert [p.name for p in tmp_path.iterdir()] == ['lock.txt']  # no temporary file left
