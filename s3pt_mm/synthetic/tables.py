"""Deterministic tokens and the JSON table files of the devkit formats."""
import hashlib
import json
from pathlib import Path
from typing import List


def make_token(*keys) -> str:
    """A 32-hex-digit token that is a pure function of ``keys`` (so the same seed gives the same tables)."""
    return hashlib.md5('/'.join(str(k) for k in keys).encode()).hexdigest()


def write_table(version_dir: Path, name: str, records: List[dict]) -> None:
    """Write one database table ``<version_dir>/<name>.json``."""
    version_dir.mkdir(parents=True, exist_ok=True)
    with open(version_dir / f'{name}.json', 'w') as f:
        json.dump(records, f, indent=0)
