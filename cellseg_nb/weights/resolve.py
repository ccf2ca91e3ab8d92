"""Turn a weights source (a zoo name or a local file) into a local file, downloading zoo files on demand.

Downloads go through the package's one downloader (:func:`cellseg_nb.data.download_http.fetch_file`):
resumable ``.part`` files, the announced and the registry's size checked, the sha256 checked where known;
the file gets its final name only when complete. Concurrent processes (``torchrun`` ranks) take turns
through a lock file, so the second finds the file already there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Iterator

from ..data.download_http import RetryPolicy, fetch_file
from ..errors import ConfigError
from .report import WeightsError
from .zoo import ZooEntry, weights_dir, zoo_entries, zoo_entry

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (POSIX ``flock``; no lock where unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, entry: ZooEntry, *, sha256: str | None = None) -> str:
    """Check ``path`` against the entry's size, sha256 (or ``sha256`` given here) and sha256 prefix; return
    the file's sha256. WeightsError naming the file, what was expected and what was found."""
    if entry.size is not None and path.stat().st_size != entry.size:
        raise WeightsError(f"size {path.stat().st_size} bytes, the zoo entry {entry.name} says {entry.size}",
                           file=path)
    actual = _sha256(path)
    wanted = (sha256 or entry.sha256 or "").lower() or None
    if wanted is not None and actual != wanted:
        raise WeightsError(f"sha256 {actual}, expected {wanted} ({entry.name})", file=path)
    if entry.sha256_prefix and not actual.startswith(entry.sha256_prefix):
        raise WeightsError(f"sha256 {actual} does not start with {entry.sha256_prefix} ({entry.name})", file=path)
    return actual


def download_entry(entry: ZooEntry, dest: str | Path | None = None, *, progress: bool = True,
                   policy: RetryPolicy | None = None, sha256: str | None = None) -> Path:
    """Fetch ``entry`` to ``dest`` (a folder; default the cache) unless it is already there; verify it."""
    folder = Path(dest) if dest is not None else weights_dir()
    target = folder / entry.file_name
    if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower())):
        raise ConfigError(f"sha256: expected 64 hex digits, got {sha256!r}")
    with _locked(folder / f".{entry.file_name}.lock"):
        if target.is_file():
            if entry.size is not None and target.stat().st_size != entry.size:
                raise WeightsError(f"size {target.stat().st_size} bytes, the zoo entry {entry.name} says "
                                   f"{entry.size}; delete it to download again", file=target)
            if sha256 is not None:
                verify_file(target, entry, sha256=sha256)
            return target
        wanted = sha256 or entry.sha256
        log.info("downloading %s from %s", entry.name, entry.url)
        fetch_file(entry.url, target, policy=policy, progress=progress, expected_size=entry.size,
                   checksum=f"sha256:{wanted.lower()}" if wanted else None, desc=entry.name)
        try:
            verify_file(target, entry, sha256=sha256)
        except WeightsError:
            target.unlink(missing_ok=True)
            raise
    return target


def resolve_weights(source: str | Path, *, cache_dir: str | Path | None = None, download: bool = True,
                    progress: bool = True, policy: RetryPolicy | None = None, sha256: str | None = None) -> Path:
    """A local file for ``source``: an existing path as given, or a zoo name's cached file (downloaded into
    ``cache_dir`` / ``$CELLSEG_NB_HOME/weights`` when absent and ``download`` is true)."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise WeightsError("is a folder, not a weights file", file=path)
    entry = zoo_entry(str(source))
    if entry is None:
        raise WeightsError(f"no such file, and no zoo entry of that name (zoo: {', '.join(sorted(zoo_entries()))}; "
                           "`cellseg-nb weights list`)", file=str(source))
    cached = Path(cache_dir if cache_dir is not None else weights_dir()) / entry.file_name
    if cached.is_file() and sha256 is None:
        if entry.size is not None and cached.stat().st_size != entry.size:
            raise WeightsError(f"size {cached.stat().st_size} bytes, the zoo entry {entry.name} says {entry.size}; "
                               "delete it to download again", file=cached)
        return cached
    if not download:
        raise WeightsError(f"zoo weights {entry.name} are not in the cache; run `cellseg-nb weights download "
                           f"{entry.name}` or pass a local file (from {entry.url})", file=cached)
    return download_entry(entry, cached.parent, progress=progress, policy=policy, sha256=sha256)
