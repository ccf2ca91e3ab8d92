"""Fetch one file over HTTP(S), resumably, with size and optional checksum checks.

LIVECell lives in a public S3 bucket; transfers of the 1.3 GB archive are slow and have been cut short
before, so a download here

* streams into ``<name>.part`` and resumes it with an HTTP ``Range`` request (guarded by ``If-Range``
  with the ETag the server gave earlier, so a file that changed on the server is fetched again from zero);
* remembers the announced size and the ETag in ``<name>.part.json`` so a later run can resume too;
* checks the number of bytes received against the size the server announces, and optionally a checksum;
* gives the file its final name (``os.replace``, atomic) only once every check has passed.

Only the standard library is used (``urllib.request``), so proxies from the environment are honoured.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from .. import __version__
from ..atomic import atomic_write_json
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = f"cellseg-nb/{__version__} (+LIVECell downloader)"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")
_MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``retries`` attempts in a row without progress, exponential back-off, socket time-out.

    A failed attempt that still received bytes resets the count, so a slow but moving transfer of a large
    file is never given up, while a server that keeps sending nothing is.
    """

    retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ConfigError(f"retries must be an integer >= 0, got {self.retries!r}")
        if self.backoff_s < 0:
            raise ConfigError(f"backoff_s must be >= 0, got {self.backoff_s!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s!r}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based), doubling up to a minute."""
        return min(self.backoff_s * (2.0 ** retry), _MAX_BACKOFF_S)


@dataclass
class FetchResult:
    """What one :func:`fetch_file` call did; ``bytes_transferred`` counts body bytes received in this call."""

    url: str
    path: Path
    size: int
    bytes_transferred: int = 0
    attempts: int = 0
    resumed: bool = False
    restarted: bool = False
    size_verified: bool = False
    validator: str | None = None
    checksum: str | None = None


@dataclass(frozen=True)
class RemoteInfo:
    """What a HEAD request says about a remote file."""

    size: int | None
    validator: str | None


class _Transient(Exception):
    """An attempt failed in a way that another attempt may fix (connection dropped, time-out, HTTP 5xx)."""


def parse_checksum(text: str) -> tuple[str, str]:
    """Split ``"sha256:<hex>"`` into a hashlib algorithm name and lower-case hex digest.

    Raises :class:`ConfigError` for an unknown algorithm or a digest of the wrong length.
    """
    algo, sep, digest = str(text).strip().partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if not sep or algo not in hashlib.algorithms_guaranteed:
        raise ConfigError(f"checksum {text!r}: expected '<algorithm>:<hex digest>' with algorithm one of "
                          "md5, sha1, sha256, sha512")
    expected_len = hashlib.new(algo).digest_size * 2
    if len(digest) != expected_len or not re.fullmatch(r"[0-9a-f]+", digest):
        raise ConfigError(f"checksum {text!r}: a {algo} digest has {expected_len} hex digits")
    return algo, digest


def file_checksum(path: str | Path, algo: str) -> str:
    """``"<algo>:<hex>"`` of a local file, read in chunks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return f"{algo}:{digest.hexdigest()}"


def verify_checksum(path: str | Path, checksum: str, *, url: str | None = None) -> str:
    """Check ``path`` against ``checksum`` (``"algo:hex"``); return the normalised checksum or raise DataError."""
    algo, expected = parse_checksum(checksum)
    actual = file_checksum(path, algo)
    if actual != f"{algo}:{expected}":
        raise DataError(f"{algo} checksum mismatch: expected {expected}, got {actual.partition(':')[2]} "
                        f"(local copy {path})", file=url or path)
    return actual


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> urllib.request.Request:
    all_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    all_headers.update(headers or {})
    return urllib.request.Request(url, headers=all_headers, method=method)


def _validator(headers: http.client.HTTPMessage) -> str | None:
    """A strong ETag, else Last-Modified: what ``If-Range`` may carry (weak ETags are not allowed there)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _int_header(headers: http.client.HTTPMessage, name: str) -> int | None:
    value = headers.get(name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _open(request: urllib.request.Request, timeout: float, url: str):
    """Open a request; HTTP errors other than 416 become DataError (permanent) or _Transient (worth retrying)."""
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:
            raise
        exc.close()
        problem = f"HTTP {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(problem) from None
        raise DataError(problem, file=url) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


def remote_info(url: str, *, policy: RetryPolicy | None = None,
                sleep: Callable[[float], None] = time.sleep) -> RemoteInfo:
    """HEAD ``url``: its announced size and validator, retrying transient failures per ``policy``."""
    policy = policy or RetryPolicy()
    for retry in range(policy.retries + 1):
        try:
            with _open(_request(url, "HEAD"), policy.timeout_s, url) as resp:
                return RemoteInfo(_int_header(resp.headers, "Content-Length"), _validator(resp.headers))
        except urllib.error.HTTPError as exc:  # 416 on a HEAD: nothing sensible to learn
            exc.close()
            raise DataError(f"HTTP {exc.code} {exc.reason}", file=url) from None
        except _Transient as exc:
            if retry >= policy.retries:
                raise DataError(f"HEAD failed after {retry + 1} attempts: {exc}", file=url) from None
            sleep(policy.delay(retry))
    raise AssertionError("unreachable")  # pragma: no cover


class _Fetch:
    """State of one resumable transfer: the ``.part`` file, its sidecar and the counters of the result."""

    def __init__(self, url: str, dest: Path, policy: RetryPolicy, progress: bool,
                 expected_size: int | None, desc: str | None) -> None:
        self.url, self.dest, self.policy, self.progress = url, dest, policy, progress
        self.expected_size = expected_size
        self.desc = desc or dest.name
        self.part = dest.with_name(dest.name + ".part")
        self.meta = dest.with_name(dest.name + ".part.json")
        self.total: int | None = None
        self.result = FetchResult(url=url, path=dest, size=0)

    # -- the .part file and its sidecar ------------------------------------------------------------------
    def have(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def read_meta(self) -> dict:
        try:
            meta = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) and meta.get("url", self.url) == self.url else {}

    def write_meta(self, validator: str | None) -> None:
        atomic_write_json(self.meta, {"url": self.url, "total": self.total, "validator": validator})

    def discard(self) -> None:
        """Remove the partial file and its sidecar (after a checksum or size failure)."""
        for path in (self.part, self.meta):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- one attempt -------------------------------------------------------------------------------------
    def attempt(self) -> bool:
        """Try once; True when ``.part`` is complete, False to start again at once. Raises _Transient or DataError."""
        have = self.have()
        meta = self.read_meta() if have else {}
        headers: dict[str, str] = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            if meta.get("validator"):
                headers["If-Range"] = str(meta["validator"])
        try:
            resp = _open(_request(self.url, headers=headers), self.policy.timeout_s, self.url)
        except urllib.error.HTTPError as exc:  # 416: our .part already reaches (or passes) the end
            if not have:
                exc.close()
                raise DataError("HTTP 416 Range Not Satisfiable to a request without a Range", file=self.url)
            return self._range_not_satisfiable(exc, have)
        with resp:
            start = self._start_offset(resp, have, meta)
            validator = _validator(resp.headers)
            self.result.validator = validator
            self._check_expected_size()
            if start == 0 or meta.get("validator") != validator or meta.get("total") != self.total:
                self.write_meta(validator)
            body_len = _int_header(resp.headers, "Content-Length")
            received = self._stream(resp, start)
        have = start + received
        if body_len is not None and received < body_len:
            raise _Transient(f"connection closed after {received} of {body_len} bytes")
        if self.total is not None and have < self.total:
            raise _Transient(f"received {have} of {self.total} bytes")
        if self.total is not None and have > self.total:
            self.discard()
            raise DataError(f"received {have} bytes but the server announced {self.total}; "
                            "the partial file was removed", file=self.url)
        return True

    def _range_not_satisfiable(self, exc: urllib.error.HTTPError, have: int) -> bool:
        match = _CONTENT_RANGE.match(exc.headers.get("Content-Range", ""))
        exc.close()
        total = int(match.group(3)) if match and match.group(3) != "*" else None
        if total is not None and total == have:
            self.total = total
            self._check_expected_size()
            return True
        log.info("%s: the partial file (%d bytes) does not fit the remote one (%s bytes); starting again",
                 self.desc, have, total)
        self.discard()
        self.result.restarted = True
        return False

    def _start_offset(self, resp, have: int, meta: dict) -> int:
        """Where the body starts in the file; sets ``self.total`` and the resumed/restarted flags."""
        if resp.status == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if match is None or match.group(1) is None or int(match.group(1)) != have:
                self.discard()
                self.result.restarted = True
                raise _Transient(f"unexpected Content-Range {resp.headers.get('Content-Range')!r} "
                                 f"for a request from byte {have}")
            self.total = int(match.group(3)) if match.group(3) != "*" else meta.get("total")
            self.result.resumed = True
            return have
        if resp.status != 200:
            raise _Transient(f"unexpected HTTP {resp.status}")
        if have:
            log.info("%s: the server sent the whole file instead of the rest; starting again", self.desc)
            self.result.restarted = True
        self.total = _int_header(resp.headers, "Content-Length")
        return 0

    def _check_expected_size(self) -> None:
        if self.expected_size is not None and self.total is not None and self.total != self.expected_size:
            raise DataError(f"the server announces {self.total} bytes but the file is known to have "
                            f"{self.expected_size} bytes", file=self.url)

    def _stream(self, resp, start: int) -> int:
        """Append the body to ``.part`` from ``start``; return the number of bytes received."""
        received = 0
        mode = "r+b" if start and self.part.exists() else "wb"
        with open(self.part, mode) as fh, tqdm(total=self.total, initial=start, unit="B", unit_scale=True,
                                                unit_divisor=1024, desc=self.desc, leave=False,
                                                disable=not self.progress) as bar:
            fh.seek(start)
            fh.truncate()
            try:
                while True:
                    chunk = resp.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    fh.write(chunk)
                    received += len(chunk)
                    self.result.bytes_transferred += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                fh.flush()
                raise _Transient(f"{type(exc).__name__} after {received} bytes: {exc}") from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        return received

    # -- the whole transfer ------------------------------------------------------------------------------
    def give_up(self, error: _Transient) -> DataError:
        have = self.have()
        stopped = f"{have} of {self.total} announced bytes" if self.total is not None else f"{have} bytes"
        tries = self.result.attempts
        kept = (f"{self.part} is kept, run again to resume" if have
                else "nothing was received, run again to retry")
        return DataError(f"transfer stopped at {stopped} after {tries} attempt{'s' * (tries != 1)} "
                         f"({error}); {kept}", file=self.url)

    def finish(self, checksum: str | None) -> FetchResult:
        size = self.have()
        if self.expected_size is not None and size != self.expected_size:
            self.discard()
            raise DataError(f"received {size} bytes but the file is known to have {self.expected_size} "
                            "bytes; the partial file was removed", file=self.url)
        if checksum is not None:
            try:
                self.result.checksum = verify_checksum(self.part, checksum, url=self.url)
            except DataError:
                self.discard()
                raise
        self.result.size = size
        self.result.size_verified = self.total is not None and self.total == size
        if not self.result.size_verified:
            log.warning("%s: the server announced no size; %d bytes received, unchecked", self.desc, size)
        os.replace(self.part, self.dest)
        with contextlib.suppress(FileNotFoundError):
            self.meta.unlink()
        return self.result


def fetch_file(url: str, dest: str | Path, *, policy: RetryPolicy | None = None, progress: bool = True,
               expected_size: int | None = None, checksum: str | None = None, desc: str | None = None,
               sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present; ``dest`` appears only when complete.

    ``expected_size`` (bytes) and ``checksum`` (``"sha256:<hex>"``, any hashlib algorithm) are checked when
    given; a failed check removes the partial file. Transient failures are retried per ``policy``; when it
    gives up, a :class:`DataError` names the URL and how far it got, and the partial file stays for a
    later run to resume. ``sleep`` is injectable so tests need not wait for the back-off.
    """
    policy = policy or RetryPolicy()
    if checksum is not None:
        parse_checksum(checksum)  # a malformed checksum is a ConfigError before any transfer
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fetch = _Fetch(url, dest, policy, progress, expected_size, desc)
    retries_used, seen = 0, 0
    while True:
        fetch.result.attempts += 1
        try:
            if fetch.attempt():
                return fetch.finish(checksum)
        except _Transient as exc:
            if fetch.result.bytes_transferred > seen:  # progress resets the count of retries in a row
                retries_used, seen = 0, fetch.result.bytes_transferred
            if retries_used >= policy.retries:
                raise fetch.give_up(exc) from None
            log.info("%s: %s; retrying (%d of %d)", fetch.desc, exc, retries_used + 1, policy.retries)
            sleep(policy.delay(retries_used))
            retries_used += 1
