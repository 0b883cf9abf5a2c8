"""Command-line parsing shared by the tools (standard library only)."""
import argparse
from typing import Tuple

__all__ = ['name_and_path']


def name_and_path(text: str) -> Tuple[str, str]:
    """argparse ``type`` of a ``NAME=PATH`` argument: ``'S3PT=work_dirs/x'`` -> ``('S3PT', 'work_dirs/x')``.

    Raises:
        argparse.ArgumentTypeError: no ``=``, or an empty name or path (argparse turns it into a usage error).
    """
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f'expected NAME=PATH, got {text!r}')
    return name, path
