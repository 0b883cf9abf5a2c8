"""The lock of the environment: every distribution the venv holds, at the version CI passed with.

    .venv/bin/python tools/env_lock.py check [--lock requirements/lock.txt]   # exit 1 on any difference
    .venv/bin/python tools/env_lock.py write [--lock requirements/lock.txt]   # rewrite it from this venv

``tools/setup_env.sh`` installs ``requirements/lock.txt`` (``pip install --no-deps``) and checks the venv
against it; ``bash tools/setup_env.sh --relock`` re-resolves the environment from ``requirements/*.txt``
(the newest versions they allow) and rewrites the lock with ``write``. The lock lists every distribution
of the running interpreter's environment (transitive dependencies, pip, setuptools and wheel included) as
``name==version`` lines, sorted by name, except the two that are built here rather than downloaded:
``mmcv`` (compiled from source by setup_env.sh, pinned in ``requirements/constraints.txt``) and
``s3pt_mm`` itself (installed editable).
"""
import argparse
import importlib.metadata
import os
import re
import sys
import tempfile
from typing import Dict, List

#: distributions not in the lock: built on the machine, not downloaded
NOT_LOCKED = {'mmcv': 'built from source by tools/setup_env.sh (version pinned in requirements/constraints.txt)',
              's3pt-mm': 'this project, installed editable'}
DEFAULT_LOCK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'requirements',
                            'lock.txt')
HEADER = """\
# The locked environment: every distribution of the venv that passed the tests, transitive ones included.
# tools/setup_env.sh installs exactly these (pip install --no-deps) and tests/test_environment.py checks the
# venv against them. Do not edit by hand: `bash tools/setup_env.sh --relock` re-resolves requirements/*.txt
# and rewrites this file (then run the tests and commit it). Not listed: mmcv (built from source by
# setup_env.sh) and s3pt_mm (this project, editable).
"""


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r'[-_.]+', '-', name).lower()


def installed() -> Dict[str, str]:
    """{canonical name: version} of the running interpreter's distributions, less :data:`NOT_LOCKED`."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata['Name']
        if name is None:  # a broken leftover .dist-info without metadata
            continue
        if canonical(name) not in NOT_LOCKED:
            found[canonical(name)] = dist.version
    return found


def read_lock(path: str) -> Dict[str, str]:
    """{canonical name: version} of a lock file; a line that is not ``name==version`` is an error naming
    the file and the line."""
    pins = {}
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.split('#')[0].strip()
            if not line:
                continue
            match = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s=;]+)', line)
            if match is None:
                raise ValueError(f'{path}:{number}: expected "name==version", got {raw.strip()!r}')
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def differences(lock: Dict[str, str], found: Dict[str, str]) -> List[str]:
    """Human-readable differences between a lock and an environment (empty when they match)."""
    lines = []
    for name in sorted(set(lock) | set(found)):
        if name not in found:
            lines.append(f'missing: {name}=={lock[name]}')
        elif name not in lock:
            lines.append(f'not in the lock: {name}=={found[name]}')
        elif lock[name] != found[name]:
            lines.append(f'other version: {name}=={found[name]} (lock: {lock[name]})')
    return lines


def lock_text(found: Dict[str, str]) -> str:
    return HEADER + ''.join(f'{name}=={version}\n' for name, version in sorted(found.items()))


def write_lock(path: str, found: Dict[str, str]) -> None:
    """Write the lock atomically (a temporary file in the same folder, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix='.lock.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(lock_text(found))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Check the venv against the lock, or rewrite the lock.')
    parser.add_argument('action', choices=['check', 'write'])
    parser.add_argument('--lock', default=DEFAULT_LOCK, help='lock file (default: requirements/lock.txt)')
    args = parser.parse_args(argv)
    found = installed()
    if args.action == 'write':
        write_lock(args.lock, found)
        print(f'[env_lock] {len(found)} distributions -> {args.lock}')
        return 0
    diff = differences(read_lock(args.lock), found)
    if diff:
        print(f'[env_lock] {sys.prefix} does not match {args.lock}:', *diff, sep='\n  ', file=sys.stderr)
        print('[env_lock] `bash tools/setup_env.sh` installs the lock; `bash tools/setup_env.sh --relock` '
              're-resolves and rewrites it', file=sys.stderr)
        return 1
    print(f'[env_lock] {sys.prefix} matches {args.lock} ({len(found)} distributions)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
