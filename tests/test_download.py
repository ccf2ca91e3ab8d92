"""The LIVECell downloader against a local HTTP server (127.0.0.1 only) serving small fake files."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cellseg_nb.cli import main as cli_main
from cellseg_nb.data.download import MANIFEST_NAME, download_livecell, livecell_files, parse_parts
from cellseg_nb.data.download_http import RetryPolicy, fetch_file
from cellseg_nb.data.download_unpack import unpack_images_zip
from cellseg_nb.errors import ConfigError, DataError

PREFIX = "/LIVECell_dataset_2021/"
FAST = RetryPolicy(retries=2, backoff_s=0.0, timeout_s=5.0)
VAL = "annotations/LIVECell/livecell_coco_val.json"

#: name inside images.zip -> pixel seed; the LIVECell nesting, one train_val and one test image per split.
TIFS = {
    "images/livecell_train_val_images/A172/A172_Phase_C7_1_02d16h00m_2.tif": 1,
    "images/livecell_train_val_images/SKOV3/SKOV3_Phase_G4_1_00d04h00m_1.tif": 2,
    "images/livecell_test_images/BV2/BV2_Phase_A4_2_00d00h00m_1.tif": 3,
}
TIFS_FIRST = next(iter(TIFS))


def _tif_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(6, 8), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="TIFF", compression="tiff_lzw")
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in dirs:
            zf.writestr(zipfile.ZipInfo(name), b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _coco_bytes(split: str, n_bytes: int = 0) -> bytes:
    record = {"info": {"split": split}, "categories": [{"supercategory": "cell", "id": 1, "name": "cell"}],
              "images": [], "annotations": [], "padding": "x" * n_bytes}
    return json.dumps(record).encode()


def _fake_files() -> dict[str, bytes]:
    files = {
        "images.zip": _zip_bytes({name: _tif_bytes(seed) for name, seed in TIFS.items()},
                                 dirs=("images/", "images/livecell_test_images/", "__MACOSX/")),
        # val is large enough that a drop after 70 kB leaves most of it to resume
        **{f"annotations/LIVECell/livecell_coco_{s}.json": _coco_bytes(s, 200_000 if s == "val" else 0)
           for s in ("train", "val", "test")},
    }
    files.update({rel: _coco_bytes(rel) for rel in livecell_files("single-cell,size-split")})
    return files


@dataclass
class FakeBucket:
    """What the fake server serves and how it misbehaves; ``log`` holds (method, path, Range header)."""

    files: dict[str, bytes]
    drop_first_get_after: dict[str, int] = field(default_factory=dict)
    ignore_range: set[str] = field(default_factory=set)
    announce_extra: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)
    _dropped: set[str] = field(default_factory=set)


def _handler(bucket: FakeBucket):
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hold a server thread for long

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _serve(self, send_body: bool) -> None:
            bucket.log.append((self.command, self.path, self.headers.get("Range")))
            rel = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else None
            if rel not in bucket.files:
                self.send_error(404)
                return
            data = bucket.files[rel]
            total = len(data) + bucket.announce_extra.get(rel, 0)
            etag = '"' + hashlib.md5(data).hexdigest() + '"'
            ranged = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            start = 0
            if ranged and rel not in bucket.ignore_range and if_range in (None, etag):
                start = int(ranged.removeprefix("bytes=").rstrip("-"))
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(total - start))
            self.send_header("ETag", etag)
            self.end_headers()
            if not send_body:
                return
            body = data[start:]
            if self.command == "GET" and rel in bucket.drop_first_get_after and rel not in bucket._dropped:
                bucket._dropped.add(rel)
                body = body[:bucket.drop_first_get_after[rel]]  # then the connection closes (HTTP/1.0)
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

    return Handler


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, and any connection to an address other than 127.0.0.1 fails the test."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"test tried to connect to {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture()
def bucket() -> FakeBucket:
    return FakeBucket(files=_fake_files())


@contextlib.contextmanager
def serve_bucket(bucket: FakeBucket):
    """The bucket on a loopback HTTP server for the duration of the block; yields its base URL. A backstop
    timer stops the server even if the block never ends."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(bucket))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    backstop = threading.Timer(60.0, server.shutdown)  # stops by itself even if teardown never runs
    backstop.daemon = True
    backstop.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    finally:
        backstop.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def base_url(bucket: FakeBucket):
    with serve_bucket(bucket) as url:
        yield url


def _gets(bucket: FakeBucket) -> list[str]:
    return [path for method, path, _ in bucket.log if method == "GET"]


def test_catalogue_matches_the_livecell_readme() -> None:
    files = livecell_files("all")
    assert len(files) == 1 + 3 + 8 * 3 + 5
    # spelled out by hand from the LIVECell README links
    for rel in ("images.zip", "annotations/LIVECell/livecell_coco_test.json",
                "annotations/LIVECell_single_cells/skov3/test.json",
                "annotations/LIVECell_single_cells/shsy5y/train.json",
                "annotations/LIVECell_dataset_size_split/0_train2percent.json",
                "annotations/LIVECell_dataset_size_split/4_train50percent.json"):
        assert rel in files
    assert livecell_files() == ["images.zip"] + [f"annotations/LIVECell/livecell_coco_{s}.json"
                                                 for s in ("train", "val", "test")]
    assert parse_parts("annotations, images") == ("images", "annotations")
    with pytest.raises(ConfigError, match="nonsense"):
        parse_parts("images,nonsense")


def test_full_download_unpacks_into_the_official_layout(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    report = download_livecell(tmp_path, parts="all", base_url=base_url, progress=True, policy=FAST)
    assert {f.status for f in report.files} == {"downloaded"}
    for rel, data in bucket.files.items():
        assert (tmp_path / rel).read_bytes() == data, rel
    for name, seed in TIFS.items():
        with Image.open(tmp_path / name) as img:
            np.testing.assert_array_equal(np.asarray(img), np.random.default_rng(seed).integers(
                0, 256, size=(6, 8), dtype=np.uint8))
    tifs = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "images").rglob("*") if p.is_file())
    assert tifs == sorted(TIFS)
    assert report.unpack_status == "unpacked" and report.unpacked_files == 3
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.glob(".images.unpacking-*"))
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["files"][VAL]["size"] == len(bucket.files[VAL])
    assert report.bytes_transferred == sum(len(d) for d in bucket.files.values())


def test_second_run_makes_no_request_and_unpacks_nothing(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    download_livecell(tmp_path, base_url=base_url, progress=False, policy=FAST)
    sentinel = tmp_path / "images" / "livecell_test_images" / "BV2" / "note.txt"
    sentinel.write_text("a re-unpack would remove this")
    requests_before = len(bucket.log)
    report = download_livecell(tmp_path, base_url=base_url, progress=False, policy=FAST)
    assert len(bucket.log) == requests_before
    assert {f.status for f in report.files} == {"already complete"}
    assert report.unpack_status == "already unpacked" and sentinel.exists()
    # without the manifest, present files are adopted after a HEAD each: still no GET
    (tmp_path / MANIFEST_NAME).unlink()
    gets_before = len(_gets(bucket))
    report = download_livecell(tmp_path, base_url=base_url, progress=False, policy=FAST)
    assert len(_gets(bucket)) == gets_before
    assert {f.status for f in report.files} == {"adopted"} and report.unpack_status == "found complete"


def test_dropped_connection_resumes_with_range(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    bucket.drop_first_get_after[VAL] = 70_000
    result = fetch_file(base_url + VAL, tmp_path / "val.json", policy=FAST, progress=False, sleep=lambda s: None)
    assert (tmp_path / "val.json").read_bytes() == bucket.files[VAL]
    assert [r for m, p, r in bucket.log if p.endswith(VAL)] == [None, "bytes=70000-"]
    assert result.resumed and not result.restarted and result.attempts == 2
    assert result.bytes_transferred == len(bucket.files[VAL])
    assert not (tmp_path / "val.json.part").exists() and not (tmp_path / "val.json.part.json").exists()


def test_interrupted_run_is_resumed_by_the_next_run(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    bucket.drop_first_get_after[VAL] = 70_000
    with pytest.raises(DataError, match="run again to resume"):
        download_livecell(tmp_path, parts="annotations", base_url=base_url, progress=False,
                          policy=RetryPolicy(retries=0, backoff_s=0.0, timeout_s=5.0))
    assert not (tmp_path / VAL).exists()
    assert (tmp_path / (VAL + ".part")).stat().st_size == 70_000
    report = download_livecell(tmp_path, parts="annotations", base_url=base_url, progress=False, policy=FAST)
    assert (tmp_path / VAL).read_bytes() == bucket.files[VAL]
    assert {f.path: f.status for f in report.files}[VAL] == "resumed"
    assert [r for m, p, r in bucket.log if p.endswith(VAL)] == [None, "bytes=70000-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    bucket.ignore_range.add(VAL)
    bucket.drop_first_get_after[VAL] = 70_000
    stale = b"stale bytes that must not survive"
    (tmp_path / "val.json.part").write_bytes(stale)
    result = fetch_file(base_url + VAL, tmp_path / "val.json", policy=FAST, progress=False, sleep=lambda s: None)
    assert (tmp_path / "val.json").read_bytes() == bucket.files[VAL]
    assert result.restarted and result.attempts == 2
    assert [r for m, p, r in bucket.log] == [f"bytes={len(stale)}-", "bytes=70000-"]  # both answered 200 from zero


def test_complete_part_file_is_finished_without_a_transfer(tmp_path: Path, bucket: FakeBucket,
                                                           base_url: str) -> None:
    (tmp_path / "val.json.part").write_bytes(bucket.files[VAL])
    result = fetch_file(base_url + VAL, tmp_path / "val.json", policy=FAST, progress=False, sleep=lambda s: None)
    assert (tmp_path / "val.json").read_bytes() == bucket.files[VAL]
    assert result.bytes_transferred == 0 and result.size_verified  # the server answered 416 with the total


def test_deleted_archive_and_wrong_sized_files(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    download_livecell(tmp_path, parts="images", base_url=base_url, progress=False, policy=FAST, keep_archive=False)
    assert not (tmp_path / "images.zip").exists() and (tmp_path / TIFS_FIRST).is_file()
    requests_before = len(bucket.log)
    report = download_livecell(tmp_path, parts="images", base_url=base_url, progress=False, policy=FAST)
    assert len(bucket.log) == requests_before and report.unpack_status == "already unpacked"
    # a truncated copy placed by hand is moved aside, never kept under the final name
    (tmp_path / VAL).parent.mkdir(parents=True)
    (tmp_path / VAL).write_bytes(bucket.files[VAL][:100])
    download_livecell(tmp_path, parts="annotations", base_url=base_url, progress=False, policy=FAST)
    assert (tmp_path / VAL).read_bytes() == bucket.files[VAL]
    assert (tmp_path / (VAL + ".invalid")).read_bytes() == bucket.files[VAL][:100]


def test_changed_file_on_server_restarts_via_if_range(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    (tmp_path / "val.json.part").write_bytes(b"old version")
    (tmp_path / "val.json.part.json").write_text(json.dumps({"total": 999, "validator": '"old-etag"'}))
    fetch_file(base_url + VAL, tmp_path / "val.json", policy=FAST, progress=False, sleep=lambda s: None)
    assert (tmp_path / "val.json").read_bytes() == bucket.files[VAL]


def test_announced_size_mismatch_fails_without_a_final_file(tmp_path: Path, bucket: FakeBucket,
                                                             base_url: str) -> None:
    size = len(bucket.files[VAL])
    bucket.announce_extra[VAL] = 50  # announces 50 bytes more than it ever sends (a truncated object)
    with pytest.raises(DataError, match=f"{size} of {size + 50} announced bytes") as info:
        fetch_file(base_url + VAL, tmp_path / "val.json", policy=FAST, progress=False, sleep=lambda s: None)
    assert base_url + VAL in str(info.value)
    assert not (tmp_path / "val.json").exists()
    assert (tmp_path / "val.json.part").stat().st_size == size  # kept for a later resume
    assert len(_gets(bucket)) == 1 + FAST.retries


def test_known_size_and_checksum_are_enforced(tmp_path: Path, bucket: FakeBucket, base_url: str) -> None:
    data = bucket.files[VAL]
    with pytest.raises(DataError, match=f"announces {len(data)} bytes but the file is known to have 5 bytes"):
        download_livecell(tmp_path, parts="annotations", base_url=base_url, progress=False, policy=FAST,
                          expected_sizes={VAL: 5})
    assert not (tmp_path / VAL).exists() and not (tmp_path / (VAL + ".part")).exists()
    with pytest.raises(DataError, match="sha256 checksum mismatch"):
        fetch_file(base_url + VAL, tmp_path / "v.json", checksum="sha256:" + "0" * 64, policy=FAST, progress=False)
    assert not (tmp_path / "v.json").exists() and not (tmp_path / "v.json.part").exists()
    md5 = "md5:" + hashlib.md5(data).hexdigest()
    report = download_livecell(tmp_path, parts="annotations", base_url=base_url, progress=False, policy=FAST,
                               checksums={VAL: md5.upper().replace("MD5", "md5")})
    assert {f.path: f.checksum for f in report.files}[VAL] == md5


def test_unpack_refuses_paths_that_escape(tmp_path: Path) -> None:
    for bad in ("../evil.tif", "images/livecell_test_images/../../evil.tif", "/abs/evil.tif"):
        archive = tmp_path / "bad.zip"
        archive.write_bytes(_zip_bytes({"images/livecell_test_images/A172/ok.tif": b"x", bad: b"y"}))
        root = tmp_path / "root"
        with pytest.raises(DataError, match="refusing to unpack") as info:
            unpack_images_zip(archive, root, progress=False)
        assert bad in str(info.value)
        assert not (tmp_path / "evil.tif").exists() and not (root / "images").exists()


def test_unpack_accepts_archive_without_images_prefix_and_rejects_foreign_ones(tmp_path: Path) -> None:
    archive = tmp_path / "flat.zip"
    archive.write_bytes(_zip_bytes({"livecell_train_val_images/A172/a.tif": b"abc"}))
    result = unpack_images_zip(archive, tmp_path / "r", progress=False)
    assert (tmp_path / "r/images/livecell_train_val_images/A172/a.tif").read_bytes() == b"abc"
    assert result.status == "unpacked" and result.files == 1
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "r/images").stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    other = tmp_path / "other.zip"
    other.write_bytes(_zip_bytes({"photos/cat.jpg": b"meow"}))
    with pytest.raises(DataError, match="not a LIVECell images.zip"):
        unpack_images_zip(other, tmp_path / "s", progress=False)


def test_cli_help_and_run(tmp_path: Path, bucket: FakeBucket, base_url: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["download", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--base-url" in out and "--parts" in out and "livecell" in out
    with pytest.raises(SystemExit) as info:
        cli_main(["download", "livecell", "--dest", str(tmp_path), "--parts", "images,bogus"])
    assert info.value.code == 2
    code = cli_main(["download", "livecell", "--dest", str(tmp_path / "d"), "--parts", "annotations,size-split",
                     "--base-url", base_url, "--no-progress", "--retries", "1"])
    assert code == 0
    assert "8 downloaded" in capsys.readouterr().out
    for rel in livecell_files("annotations,size-split"):
        assert (tmp_path / "d" / rel).read_bytes() == bucket.files[rel]
    assert not (tmp_path / "d" / "images").exists()
    bucket.files.pop(VAL)
    code = cli_main(["download", "livecell", "--dest", str(tmp_path / "e"), "--parts", "annotations",
                     "--base-url", base_url, "--no-progress"])
    assert code == 2
    assert "HTTP 404" in capsys.readouterr().err
