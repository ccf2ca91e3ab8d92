"""Unpack LIVECell's ``images.zip`` into the official layout, safely and all-or-nothing.

The archive holds ``images/livecell_train_val_images/<CellType>/*.tif`` and
``images/livecell_test_images/<CellType>/*.tif`` (some re-packed copies drop the leading ``images/``, and
archives made on macOS carry ``__MACOSX/`` resource forks). Everything is checked before anything is
written: a member whose path is absolute or climbs out with ``..`` refuses the whole archive, since
``zipfile`` would otherwise silently rewrite it. Members are extracted into a staging folder
``DEST/.images.unpacking-*`` and each ``livecell_*_images`` folder is then moved into ``DEST/images`` by a
rename, so an interrupted unpack never leaves a half-filled tree under the final name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..errors import DataError
from .layout import SPLIT_DIRS

log = logging.getLogger(__name__)

#: The folders of the official layout under ``images/``.
LAYOUT_ROOTS: tuple[str, ...] = SPLIT_DIRS
IMAGES_DIR = "images"
STAGING_PREFIX = ".images.unpacking-"
_SKIPPED_NAMES = (".DS_Store", "Thumbs.db")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class UnpackResult:
    """What :func:`unpack_images_zip` did: ``status`` is ``"unpacked"``; ``files`` counts files written."""

    status: str
    files: int
    bytes: int
    images_dir: Path
    skipped: int = 0


def _unsafe_reason(name: str) -> str | None:
    """Why a member name must not be unpacked, or None when it is a plain relative path."""
    if "\x00" in name:
        return "a NUL byte in the name"
    if "\\" in name:
        return "a backslash in the name"
    if name.startswith("/") or _DRIVE.match(name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a '..' component that leaves the destination"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def layout_members(archive: zipfile.ZipFile, label: str | Path) -> tuple[dict[str, zipfile.ZipInfo], int]:
    """Map each image member to its path under ``images/``; also return how many members were skipped.

    Raises :class:`DataError` naming the member for an unsafe path or a symbolic link, and for an archive
    with no member in the LIVECell layout at all.
    """
    members: dict[str, zipfile.ZipInfo] = {}
    skipped = 0
    for info in archive.infolist():
        reason = _unsafe_reason(info.filename)
        if reason is None and _is_symlink(info):
            reason = "a symbolic link"
        if reason is not None:
            raise DataError(f"refusing to unpack {info.filename!r}: {reason}", file=label)
        parts = [p for p in info.filename.split("/") if p not in ("", ".")]
        if info.is_dir() or not parts:
            continue
        if parts[0] == "__MACOSX" or parts[-1] in _SKIPPED_NAMES or parts[-1].startswith("._"):
            skipped += 1
            continue
        if parts[0] == IMAGES_DIR:
            parts = parts[1:]
        if len(parts) < 2 or parts[0] not in LAYOUT_ROOTS:
            skipped += 1
            log.debug("%s: skipping %s (outside %s)", label, info.filename, "/".join(LAYOUT_ROOTS))
            continue
        members["/".join(parts)] = info
    if not members:
        raise DataError(f"not a LIVECell images.zip: no member under {IMAGES_DIR}/{LAYOUT_ROOTS[0]}/ or "
                        f"{IMAGES_DIR}/{LAYOUT_ROOTS[1]}/", file=label)
    if skipped:
        log.info("%s: skipped %d member(s) outside the LIVECell layout", label, skipped)
    return members, skipped


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"not a readable zip archive ({exc}); delete it and download again", file=path) from None
    except FileNotFoundError:
        raise DataError("archive not found", file=path) from None


def archive_is_unpacked(archive: str | Path, root: str | Path) -> bool:
    """True when every image of ``archive`` exists under ``root/images`` with its size (no unpack needed)."""
    images = Path(root) / IMAGES_DIR
    if not images.is_dir():
        return False
    with _open_zip(Path(archive)) as zf:
        members, _ = layout_members(zf, archive)
    for rel, info in members.items():
        try:
            if (images / rel).stat().st_size != info.file_size:
                return False
        except FileNotFoundError:
            return False
    return True


def count_unpacked(root: str | Path) -> int:
    """Number of files under the layout folders of ``root/images`` (a cheap check of an earlier unpack)."""
    total = 0
    for name in LAYOUT_ROOTS:
        for _, _, files in os.walk(Path(root) / IMAGES_DIR / name):
            total += len(files)
    return total


def _extract(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], staging: Path, label: str | Path,
             progress: bool) -> int:
    """Write every member below ``staging``; return the bytes written. Corrupt members raise DataError."""
    written = 0
    total = sum(info.file_size for info in members.values())
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="unpacking images.zip",
              leave=False, disable=not progress) as bar:
        for rel, info in members.items():
            target = staging.joinpath(*PurePosixPath(rel).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise DataError(f"cannot unpack {info.filename!r}: {exc}", file=label) from None
            size = target.stat().st_size
            if size != info.file_size:
                raise DataError(f"{info.filename!r} unpacked to {size} bytes, the archive says "
                                f"{info.file_size}", file=label)
            written += size
            bar.update(size)
    return written


def _move_into_place(staging: Path, images: Path) -> None:
    """Rename each staged layout folder to ``images/<folder>``, replacing an older copy of that folder."""
    images.mkdir(parents=True, exist_ok=True)
    old = staging / ".replaced"
    for name in LAYOUT_ROOTS:
        new = staging / name
        if not new.exists():
            continue
        target = images / name
        if target.exists():
            old.mkdir(exist_ok=True)
            os.replace(target, old / name)
        os.replace(new, target)


def unpack_images_zip(archive: str | Path, root: str | Path, *, progress: bool = True) -> UnpackResult:
    """Unpack LIVECell's ``images.zip`` into ``root/images/livecell_{train_val,test}_images/...``.

    All member paths are validated first (absolute paths, ``..`` and links refuse the archive with a
    :class:`DataError` naming the member); ``__MACOSX`` and folder entries are skipped, and an archive
    without the leading ``images/`` is accepted. A layout folder already present is replaced as a whole.
    """
    archive, root = Path(archive), Path(root)
    with _open_zip(archive) as zf:
        members, skipped = layout_members(zf, archive)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
        try:
            written = _extract(zf, members, staging, archive, progress)
            _move_into_place(staging, root / IMAGES_DIR)
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)
    log.info("unpacked %d images (%d bytes) from %s into %s", len(members), written, archive, root / IMAGES_DIR)
    return UnpackResult(status="unpacked", files=len(members), bytes=written, images_dir=root / IMAGES_DIR,
                        skipped=skipped)
