"""Atomic file writes: a reader never sees a half-written checkpoint, dataset file or report.

Everything is written to a temporary file in the destination folder and moved into place with
``os.replace``, which is atomic on POSIX and Windows for paths on the same file system. The file gets
the permissions an ordinary ``open()`` would give it (``0o666`` less the process umask), or keeps those
of the file it replaces, so data written for a group stays readable by the group.

Whole folders (generated datasets) are staged the same way by :func:`atomic_directory`: written into a
hidden sibling folder and swapped in place of the destination at the end, so an interrupt leaves the
old dataset or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``, on error it is removed.

    ``suffix`` defaults to the destination's own suffix so writers that look at the extension
    (Pillow, torch, matplotlib) choose the right format.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix if suffix is None else suffix,
                               dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, _file_mode(dest))
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def process_umask() -> int:
    """The process umask, read without changing it where the system allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it elsewhere; restored at once
    os.umask(mask)
    return mask


def _file_mode(dest: Path) -> int:
    """Mode for a new file at ``dest``: that of the file it replaces, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(dest).st_mode)
    except OSError:
        return 0o666 & ~process_umask()


def atomic_write_bytes(dest: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically and return ``dest``."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(dest)


def atomic_write_text(dest: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``dest`` atomically and return ``dest``."""
    return atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: str | Path, obj: Any, *, indent: int | None = None) -> Path:
    """Serialise ``obj`` as JSON to ``dest`` atomically and return ``dest``."""
    return atomic_write_text(dest, json.dumps(obj, indent=indent))


#: Name of the file that marks a folder as written by one of our generators (see :func:`atomic_directory`).
OUTPUT_MARKER = ".cellseg-nb-output.json"


def _owner_of(folder: Path) -> str | None:
    try:
        return json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf-8")).get("generator")
    except (OSError, ValueError, AttributeError):
        return None


def check_replaceable(dest: str | Path, generator: str, *, overwrite: bool = False, what: str = "--dest",
                      earlier_output: Callable[[Path], bool] | None = None) -> Path:
    """Refuse, before any work, a destination folder a generator must not replace.

    Allowed: a missing or empty folder, a folder an earlier run of the same ``generator`` wrote (it holds
    :data:`OUTPUT_MARKER`, or ``earlier_output(folder)`` recognises an output written before markers
    existed), or anything with ``overwrite=True``. A file, or a non-empty folder of other content, is an
    :class:`~cellseg_nb.errors.OutputError` (the CLI offers ``--overwrite``).
    """
    from .errors import OutputError
    from .outputs import check_output_dir

    dest = check_output_dir(dest, what)
    ours = lambda: _owner_of(dest) == generator or (earlier_output is not None and earlier_output(dest))  # noqa: E731
    if dest.is_dir() and not overwrite and any(dest.iterdir()) and not ours():
        raise OutputError(f"folder is not empty and was not written by `cellseg-nb {generator}`; choose an empty "
                          "or new folder, or pass --overwrite (overwrite=True) to replace its whole content",
                          path=dest, what=what)
    return dest


@contextlib.contextmanager
def atomic_directory(dest: str | Path, generator: str, *, overwrite: bool = False, what: str = "--dest",
                     earlier_output: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a fresh staging folder beside ``dest``; on success it replaces ``dest``, on error it is removed.

    :func:`check_replaceable` runs first. The swap is two renames (old out, new in) and the old content is
    deleted afterwards, so an interrupt at any point leaves ``dest`` holding the complete old or the
    complete new content (plus, at worst, a hidden ``.<name>.old-*`` or ``.<name>.new-*`` folder beside it).
    The staging folder gets ``0o777`` less the umask, as ``mkdir`` would.
    """
    dest = Path(os.path.realpath(check_replaceable(dest, generator, overwrite=overwrite, what=what,
                                                   earlier_output=earlier_output)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    old: Path | None = None
    try:
        os.chmod(stage, 0o777 & ~process_umask())
        yield stage
        atomic_write_json(stage / OUTPUT_MARKER, {"generator": generator})
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / "content")
        os.replace(stage, dest)
    except BaseException:
        if old is not None and not dest.exists():  # interrupted between the two renames: put the old back
            os.replace(old / "content", dest)
        shutil.rmtree(stage, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
