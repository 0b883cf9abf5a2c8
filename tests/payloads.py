"""Pickled payloads for the security tests: objects whose unpickling would run code with a visible side
effect (a marker file), and the checks that a loader refused them without running them."""
import os
import pathlib
import pickle


class ShellPayload:
    """Unpickling this runs ``touch marker`` in a shell (``os.system``): the crafted info file of issue 32."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class TouchPayload:
    """Unpickling this calls ``pathlib.Path(marker).touch()``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker), )


def crafted_info_file(directory, name, make_infos):
    """Write ``directory / name``: ``make_infos(note=ShellPayload(marker))`` pickled as mmengine does
    (protocol 2); returns (path, marker)."""
    marker = directory / 'payload_ran'
    path = directory / name
    path.write_bytes(pickle.dumps(make_infos(note=ShellPayload(marker)), protocol=2))
    return path, marker


def assert_info_file_refused(error, path, marker):
    """The refusal names the file and the shell call, and the payload did not run."""
    message = str(error)
    assert str(path) in message and 'system' in message and 'nothing of it was run' in message
    assert not marker.exists(), 'the info file ran its payload'
