"""Output paths checked before any work starts: right kind, writable, inside their root.

Every command that writes a file or a folder calls these at its start, so a run never computes for an
hour and then fails to save (an ``--per-image`` path that is a folder, a ``--dest`` that is a file, a
read-only folder), and a run name or notebook key can never leave ``runs/`` or ``reports/``.
Nothing is created here: the checks look at the path and its nearest existing ancestor only.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError

__all__ = ["check_output_file", "check_output_dir", "contained_child"]


def _nearest_existing(path: Path, what: str) -> Path:
    """The nearest ancestor of ``path`` that exists; it must be a writable folder (folders below it get made)."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:  # pragma: no cover - the file-system root always exists
            break
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{parent} is a file, not a folder, so nothing can be written below it",
                          path=path, what=what)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"folder {parent} is not writable", path=path, what=what)
    return parent


def _as_path(path: str | os.PathLike, what: str) -> Path:
    text = os.fspath(path)
    if not str(text).strip():
        raise OutputError("empty path", path=repr(text), what=what)
    if "\x00" in str(text):
        raise OutputError("path contains a NUL character", path=repr(text), what=what)
    return Path(text).expanduser()


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Check that ``path`` can be written as a file; returns it as a :class:`Path`.

    An existing folder, an existing file that is not writable, a parent that is a file or an unwritable
    nearest existing folder is an :class:`~cellseg_nb.errors.OutputError` naming ``what`` (e.g. ``"--out"``).
    """
    p = _as_path(path, what)
    if p.is_dir():
        raise OutputError("is a folder; expected a file name", path=p, what=what)
    if p.exists() or p.is_symlink():
        if not p.is_file():
            raise OutputError("exists and is not a regular file", path=p, what=what)
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise OutputError(f"folder {p.parent} is not writable (the file is replaced atomically)",
                              path=p, what=what)
        return p
    _nearest_existing(p, what)
    return p


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder; returns it as a :class:`Path`."""
    p = _as_path(path, what)
    if p.exists():
        if not p.is_dir():
            raise OutputError("exists and is not a folder", path=p, what=what)
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError("folder is not writable", path=p, what=what)
        return p
    _nearest_existing(p, what)
    return p


def contained_child(root: str | os.PathLike, name: str, what: str) -> Path:
    """``root / name``, refused unless it stays inside ``root`` (no ``..``, no absolute path, no escape by link).

    Used for run names and notebook keys: ``--name ../../elsewhere`` must not write outside ``runs/``.
    """
    text = str(name)
    if not text.strip() or text.strip() in (".", ".."):
        raise OutputError("must be a non-empty name", path=repr(text), what=what)
    if "\x00" in text:
        raise OutputError("contains a NUL character", path=repr(text), what=what)
    candidate = Path(text)
    if candidate.is_absolute() or text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise OutputError(f"must be a name relative to {root}, not an absolute path", path=text, what=what)
    if any(part == ".." for part in text.replace("\\", "/").split("/")):
        raise OutputError(f"must not contain '..' (it would leave {root})", path=text, what=what)
    root_path = Path(root)
    child = root_path / candidate
    resolved_root = root_path.resolve()
    resolved = child.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise OutputError(f"resolves to {resolved}, outside {resolved_root}", path=text, what=what)
    if resolved == resolved_root:
        raise OutputError(f"names {root} itself; expected a name inside it", path=text, what=what)
    return child
