"""Download LIVECell into the official layout: the catalogue of files, the manifest and the whole run.

The files and their paths follow the LIVECell README (bucket ``LIVECell_dataset_2021/``). A run

* fetches each requested file with :func:`~cellseg_nb.data.download_http.fetch_file` (resumable, size
  checked, final name only when complete);
* records every finished file in ``DEST/livecell_download_manifest.json`` so that a second run on a
  complete destination makes no request at all; files found without a manifest entry are adopted after
  one HEAD request if their size matches, otherwise moved aside to ``<name>.invalid`` and fetched again;
* unpacks ``images.zip`` into ``images/livecell_{train_val,test}_images/<CellType>/`` once, and records it.

LIVECell publishes no checksums, so sizes are checked against what the server announces; known sizes and
checksums can be passed in (``expected_sizes``, ``checksums``) for a stricter check.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from ..atomic import atomic_write_json
from ..celltypes import CELL_TYPES
from ..errors import ConfigError
from .download_http import RetryPolicy, fetch_file, file_checksum, parse_checksum, remote_info
from .download_unpack import LAYOUT_ROOTS, archive_is_unpacked, count_unpacked, unpack_images_zip
from .layout import SPLITS, annotation_relpath, single_type_relpath, size_split_relpath

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://livecell-dataset.s3.eu-central-1.amazonaws.com/LIVECell_dataset_2021/"
#: Downloadable parts, in download order; ``all`` selects every one.
PARTS: tuple[str, ...] = ("images", "annotations", "single-cell", "size-split")
DEFAULT_PARTS: tuple[str, ...] = ("images", "annotations")
MANIFEST_NAME = "livecell_download_manifest.json"
ARCHIVE = "images.zip"
SIZE_SPLITS: tuple[str, ...] = ("0_train2percent", "1_train4percent", "2_train5percent", "3_train25percent",
                                "4_train50percent")
#: Order in which :meth:`DownloadReport.summary` lists file statuses.
STATUSES: tuple[str, ...] = ("downloaded", "resumed", "adopted", "already complete", "already unpacked")
_MANIFEST_FORMAT = 1


def parse_parts(text: str | Iterable[str]) -> tuple[str, ...]:
    """Turn ``"annotations, images"`` (or a sequence of names, or ``"all"``) into parts in :data:`PARTS` order.

    Raises :class:`ConfigError` naming any unknown part.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {str(item).strip().lower() for item in items} - {""}
    if not names:
        raise ConfigError(f"no parts given; choose from {', '.join(PARTS)} or all")
    unknown = sorted(names - set(PARTS) - {"all"})
    if unknown:
        raise ConfigError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)} or all")
    return PARTS if "all" in names else tuple(part for part in PARTS if part in names)


def _part_files(part: str) -> list[str]:
    if part == "images":
        return [ARCHIVE]
    if part == "annotations":
        return [annotation_relpath(split) for split in SPLITS]
    if part == "single-cell":
        return [single_type_relpath(cell, split) for cell in CELL_TYPES for split in SPLITS]
    if part == "size-split":
        return [size_split_relpath(name) for name in SIZE_SPLITS]
    raise ConfigError(f"unknown part {part!r}")  # pragma: no cover - parse_parts rejects it first


def livecell_files(parts: str | Iterable[str] = DEFAULT_PARTS) -> list[str]:
    """Relative paths (under the bucket folder and under DEST) of the files that make up ``parts``."""
    return [rel for part in parse_parts(parts) for rel in _part_files(part)]


def file_url(base_url: str, rel: str) -> str:
    """URL of ``rel`` below ``base_url`` (the ``LIVECell_dataset_2021/`` folder or a mirror of it)."""
    return base_url.rstrip("/") + "/" + urllib.parse.quote(rel)


@dataclass
class FileReport:
    """One file of a run: ``status`` is one of :data:`STATUSES`."""

    path: str
    url: str
    status: str
    size: int | None = None
    bytes_transferred: int = 0
    checksum: str | None = None


@dataclass
class DownloadReport:
    """What :func:`download_livecell` did, file by file, and whether the images were unpacked."""

    dest: Path
    parts: tuple[str, ...]
    files: list[FileReport] = field(default_factory=list)
    unpack_status: str = "not requested"
    unpacked_files: int = 0

    @property
    def bytes_transferred(self) -> int:
        return sum(f.bytes_transferred for f in self.files)

    def summary(self) -> str:
        """A few human-readable lines: counts per status, bytes transferred, the unpack step."""
        counts = Counter(f.status for f in self.files)
        ordered = [s for s in STATUSES if counts[s]] + sorted(set(counts) - set(STATUSES))
        by_status = ", ".join(f"{counts[s]} {s}" for s in ordered)
        lines = [f"LIVECell ({', '.join(self.parts)}) in {self.dest}: {len(self.files)} files ({by_status}); "
                 f"{_human_bytes(self.bytes_transferred)} transferred"]
        if self.unpack_status != "not requested":
            count = f", {self.unpacked_files} files" if self.unpacked_files else ""
            lines.append(f"images: {self.unpack_status}{count} in {self.dest / 'images'}")
        return "\n".join(lines)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Manifest:
    """``DEST/livecell_download_manifest.json``: finished files and the unpack record, saved after each change."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / MANIFEST_NAME
        self.data: dict = {"format": _MANIFEST_FORMAT, "files": {}, "unpacked": None}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if isinstance(data, dict) and isinstance(data.get("files"), dict):
                    self.data.update(data)
            except (OSError, ValueError) as exc:
                log.warning("%s: unreadable manifest (%s); files present will be checked again", self.path, exc)

    @property
    def files(self) -> dict:
        return self.data["files"]

    def save(self) -> None:
        atomic_write_json(self.path, self.data, indent=1)


@dataclass
class _Run:
    """Everything one :func:`download_livecell` call shares between files."""

    dest: Path
    base_url: str
    policy: RetryPolicy
    progress: bool
    expected_sizes: Mapping[str, int]
    checksums: Mapping[str, str]
    manifest: _Manifest

    def record(self, rel: str, url: str, size: int, validator: str | None, checksum: str | None) -> None:
        self.manifest.files[rel] = {"size": size, "url": url, "validator": validator, "checksum": checksum,
                                    "completed": _now()}
        self.manifest.save()


def _move_aside(path: Path, why: str) -> None:
    aside = path.with_name(path.name + ".invalid")
    log.warning("%s: %s; moved aside to %s and fetched again", path, why, aside.name)
    os.replace(path, aside)


def _checksum_matches(path: Path, known: str | None, wanted: str) -> str | None:
    """The normalised checksum if the local file matches ``wanted`` (from the manifest when recorded)."""
    algo, digest = parse_checksum(wanted)
    normalised = f"{algo}:{digest}"
    if known is not None and known.partition(":")[0] == algo:
        return normalised if known == normalised else None
    return normalised if file_checksum(path, algo) == normalised else None


def _local_file(run: _Run, rel: str, url: str) -> FileReport | None:
    """Report a present file as complete (manifest) or adopted (one HEAD), or move it aside and return None."""
    final = run.dest / rel
    if not final.is_file():
        return None
    size = final.stat().st_size
    expected, wanted = run.expected_sizes.get(rel), run.checksums.get(rel)
    entry = run.manifest.files.get(rel)
    if expected is not None and size != expected:
        _move_aside(final, f"{size} bytes, known to have {expected}")
        return None
    if entry and entry.get("size") == size and not entry.get("deleted"):
        checksum = entry.get("checksum")
        if wanted is not None:
            checksum = _checksum_matches(final, checksum, wanted)
            if checksum is None:
                _move_aside(final, "checksum mismatch")
                return None
        return FileReport(rel, url, "already complete", size=size, checksum=checksum)
    info = remote_info(url, policy=run.policy)
    if info.size is None or info.size != size:
        _move_aside(final, f"{size} bytes but the server announces {info.size}")
        return None
    checksum = None
    if wanted is not None:
        checksum = _checksum_matches(final, None, wanted)
        if checksum is None:
            _move_aside(final, "checksum mismatch")
            return None
    run.record(rel, url, size, info.validator, checksum)
    return FileReport(rel, url, "adopted", size=size, checksum=checksum)


def _unpack_record_ok(run: _Run) -> bool:
    """True when the manifest says images.zip was unpacked and the layout folders still hold those files."""
    record, entry = run.manifest.data.get("unpacked"), run.manifest.files.get(ARCHIVE)
    if not isinstance(record, dict) or not entry or record.get("archive_size") != entry.get("size"):
        return False
    if not all((run.dest / "images" / name).is_dir() for name in record.get("roots", LAYOUT_ROOTS)):
        return False
    return count_unpacked(run.dest) >= int(record.get("files", 0))


def _settle_file(run: _Run, rel: str) -> FileReport:
    """Make ``DEST/rel`` complete: keep a verified copy, or fetch (resuming ``.part``) and record it."""
    url = file_url(run.base_url, rel)
    entry = run.manifest.files.get(rel)
    if rel == ARCHIVE and entry and entry.get("deleted") and not (run.dest / rel).exists() and _unpack_record_ok(run):
        return FileReport(rel, url, "already unpacked", size=entry.get("size"))
    report = _local_file(run, rel, url)
    if report is not None:
        return report
    result = fetch_file(url, run.dest / rel, policy=run.policy, progress=run.progress,
                        expected_size=run.expected_sizes.get(rel), checksum=run.checksums.get(rel), desc=rel)
    run.record(rel, url, result.size, result.validator, result.checksum)
    status = "resumed" if result.resumed else "downloaded"
    log.info("%s: %s (%d bytes)", rel, status, result.size)
    return FileReport(rel, url, status, size=result.size, bytes_transferred=result.bytes_transferred,
                      checksum=result.checksum)


def _settle_images(run: _Run, archive: FileReport, keep_archive: bool) -> tuple[str, int]:
    """Unpack images.zip unless already done; delete it afterwards when asked. Returns (status, files written)."""
    path = run.dest / ARCHIVE
    fetched = archive.status in ("downloaded", "resumed")
    written = 0
    if archive.status == "already unpacked" or (not fetched and _unpack_record_ok(run)):
        status = "already unpacked"
    else:
        if archive_is_unpacked(path, run.dest):
            status, count = "found complete", count_unpacked(run.dest)
        else:
            result = unpack_images_zip(path, run.dest, progress=run.progress)
            status, count, written = result.status, result.files, result.files
        run.manifest.data["unpacked"] = {"archive_size": archive.size, "files": count, "roots": list(LAYOUT_ROOTS),
                                         "completed": _now()}
        run.manifest.save()
    if not keep_archive and path.exists():
        path.unlink()
        run.manifest.files[ARCHIVE]["deleted"] = True
        run.manifest.save()
        log.info("deleted %s after unpacking", path)
    return status, written


def _check_keys(name: str, mapping: Mapping[str, object]) -> None:
    unknown = sorted(set(mapping) - set(livecell_files("all")))
    if unknown:
        raise ConfigError(f"{name}: not LIVECell files: {', '.join(unknown)}")


def download_livecell(dest: str | Path, parts: str | Iterable[str] = DEFAULT_PARTS, *,
                      base_url: str = DEFAULT_BASE_URL, progress: bool = True, policy: RetryPolicy | None = None,
                      keep_archive: bool = True, expected_sizes: Mapping[str, int] | None = None,
                      checksums: Mapping[str, str] | None = None) -> DownloadReport:
    """Download the LIVECell ``parts`` into ``dest`` (official layout), resuming and checking every file.

    Safe to re-run: with the manifest in place a complete ``dest`` costs no request. ``keep_archive=False``
    deletes images.zip once unpacked. ``expected_sizes`` / ``checksums`` map relative paths (as listed by
    :func:`livecell_files`) to a size in bytes / ``"sha256:<hex>"``. Failures raise :class:`DataError`
    naming the file; whatever finished is kept and recorded, and partial files resume on the next run.
    """
    chosen = parse_parts(parts)
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise ConfigError(f"base_url {base_url!r}: expected an http:// or https:// URL")
    expected_sizes, checksums = dict(expected_sizes or {}), dict(checksums or {})
    _check_keys("expected_sizes", expected_sizes)
    _check_keys("checksums", checksums)
    for value in checksums.values():
        parse_checksum(value)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    run = _Run(dest, base_url, policy or RetryPolicy(), progress, expected_sizes, checksums, _Manifest(dest))
    report = DownloadReport(dest=dest, parts=chosen)
    for rel in livecell_files(chosen):
        report.files.append(_settle_file(run, rel))
    if "images" in chosen:
        archive = next(f for f in report.files if f.path == ARCHIVE)
        report.unpack_status, report.unpacked_files = _settle_images(run, archive, keep_archive)
    return report
