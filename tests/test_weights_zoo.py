"""The model zoo against a loopback HTTP server (127.0.0.1 only; the fake bucket of test_download): a
centermask2-format checkpoint downloads, resumes after a dropped connection, is size- and sha256-checked,
loads strictly and predicts what its source model predicts; the registry, overrides and the docs table."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from pathlib import Path

import pytest
import torch
import yaml

from cellseg_nb.cli import main as cli_main
from cellseg_nb.errors import ConfigError, DataError
from cellseg_nb.models.centermask.convert import to_centermask2_state_dict
from cellseg_nb.weights import WeightsError, load_model, resolve_weights, zoo_entries
from cellseg_nb.weights.info import zoo_markdown_table
from cellseg_nb.weights.zoo import ZOO

from test_download import PREFIX, FakeBucket, loopback_only, serve_bucket  # noqa: F401 (autouse fixture)
from test_weights_formats import LITE, SMALL, lite, outputs_equal

REPO = Path(__file__).resolve().parents[1]
FILE = "models/Anchor_free/TEST/lite_model.pth"


def _d2_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": state, "iteration": 9}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def source() -> torch.nn.Module:
    return lite(21)


@pytest.fixture(scope="module")
def coco_source() -> torch.nn.Module:
    """An 80-class CenterMask-Lite with the zoo's COCO settings, standing in for centermask2's COCO model."""
    return lite(22, **{k: v for k, v in ZOO_COCO.items() if k not in SMALL})


ZOO_COCO = next(e.config for e in ZOO if e.name == "coco-centermask-lite-v19-slim-dw")
MIRRORED = "mirror/" + next(e.file_name for e in ZOO if e.name == "coco-centermask-lite-v19-slim-dw")


@pytest.fixture()
def bucket(source, coco_source) -> FakeBucket:
    state = to_centermask2_state_dict(source)
    renamed = {k.replace("proposal_generator.fcos_head.cls_", "proposal_generator.fcos_head.class_"): v
               for k, v in state.items()}
    return FakeBucket(files={FILE: _d2_bytes(state), "models/renamed.pth": _d2_bytes(renamed),
                             MIRRORED: _d2_bytes(to_centermask2_state_dict(coco_source))})


@pytest.fixture()
def base_url(bucket: FakeBucket):
    with serve_bucket(bucket) as url:
        yield url


@pytest.fixture()
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: FakeBucket, base_url: str) -> Path:
    """CELLSEG_NB_HOME in tmp_path and an override file that adds entries served by the loopback server."""
    data = bucket.files[FILE]
    overrides = {
        "test-lite": dict(model=LITE, config=SMALL, url=base_url + FILE, file_name="lite_model.pth",
                          format="centermask2", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                          licence="test"),
        "test-renamed": dict(model=LITE, config=SMALL, url=base_url + "models/renamed.pth",
                             file_name="renamed.pth", format="centermask2"),
        "test-not-v99": dict(model="centermask_v99", url=base_url + FILE, file_name="not_v99.pth",
                             format="centermask2"),
    }
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump(overrides))
    monkeypatch.setenv("CELLSEG_NB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CELLSEG_NB_ZOO", str(tmp_path / "zoo.yaml"))
    monkeypatch.delenv("CELLSEG_NB_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "home" / "weights"


def test_download_resumes_after_a_drop_checks_and_loads_the_same_model(zoo: Path, bucket: FakeBucket, source,
                                                                       capsys: pytest.CaptureFixture) -> None:
    bucket.drop_first_get_after[FILE] = 300_000
    assert cli_main(["weights", "download", "test-lite", "--no-progress", "--retries", "2"]) == 0
    gets = [(path, rng) for method, path, rng in bucket.log if method == "GET"]
    assert gets[0] == (PREFIX + FILE, None) and gets[1] == (PREFIX + FILE, "bytes=300000-")
    assert (zoo / "lite_model.pth").read_bytes() == bucket.files[FILE]
    assert "lite_model.pth" in capsys.readouterr().out
    model, report = load_model("test-lite")
    assert report.format == "centermask2" and len(report.loaded) == 194 and not report.missing
    assert report.model_kwargs["test_min_size"] == 96  # the entry's config reached the model
    assert outputs_equal(source, model) > 0
    requests = len(bucket.log)
    assert resolve_weights("test-lite") == zoo / "lite_model.pth" and len(bucket.log) == requests  # cached


def test_wrong_sha256_or_size_leaves_no_file(zoo: Path, tmp_path: Path, bucket: FakeBucket) -> None:
    wrong = "0" * 64
    assert cli_main(["weights", "download", "test-lite", "--no-progress", "--sha256", wrong,
                     "--dest", str(tmp_path / "elsewhere")]) == 2
    assert not (tmp_path / "elsewhere" / "lite_model.pth").exists()
    data = yaml.safe_load((tmp_path / "zoo.yaml").read_text())
    data["test-lite"]["size"] += 1
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match=r"lite_model.pth: the server announces \d+ bytes but the file is known"):
        resolve_weights("test-lite", progress=False)
    assert not (zoo / "lite_model.pth").exists()


def test_renamed_head_downloads_but_is_refused_naming_keys(zoo: Path) -> None:
    path = resolve_weights("test-renamed", progress=False)
    assert path == zoo / "renamed.pth"
    with pytest.raises(WeightsError, match=r"renamed.pth: .*: 10 \(fcos_head.cls_tower.0.weight, "
                                           r"fcos_head.cls_tower.0.bias, .*\) model key\(s\) missing from the file; "
                                           r"10 \(proposal_generator.fcos_head.class_tower.0.weight, .*\) file key\(s\) "
                                           r"with no place"):
        load_model("test-renamed")  # the class tower (4 x 2) and logits (2) renamed
    with pytest.raises(WeightsError, match="the zoo entry test-not-v99 is a centermask_v99, the file holds a "
                                           "centermask_lite_v19_slim_dw"):
        load_model("test-not-v99")


def test_concurrent_resolves_download_once(zoo: Path, bucket: FakeBucket) -> None:
    """Two processes' worth of callers (torchrun ranks) at once: one transfer, both get the complete file."""
    results: list = []

    def fetch() -> None:
        try:
            results.append(resolve_weights("test-lite", progress=False))
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [zoo / "lite_model.pth"] * 2
    assert [p for m, p, _ in bucket.log if m == "GET"] == [PREFIX + FILE]


def test_a_builtin_zoo_name_through_a_mirror_predicts_and_starts_fine_tuning(
        zoo: Path, base_url: str, coco_source, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellseg_nb.models.centermask import build_centermask
    from cellseg_nb.weights import init_weights

    monkeypatch.setenv("CELLSEG_NB_WEIGHTS_MIRROR", base_url + "mirror")
    model, report = load_model("coco-centermask-lite-v19-slim-dw", **SMALL)
    assert report.model_kwargs["num_classes"] == 80 and report.model_kwargs["pixel_mean"] == 114.495
    assert outputs_equal(coco_source, model) > 0
    one_class = build_centermask(LITE, **SMALL)
    started = init_weights(one_class, "coco-centermask-lite-v19-slim-dw")  # cached now: no second request
    assert started.reinitialised and len(started.loaded) == 194 - 6


def test_not_cached_without_download_and_unknown_names(zoo: Path) -> None:
    with pytest.raises(WeightsError, match="cellseg-nb weights download test-lite"):
        resolve_weights("test-lite", download=False)
    with pytest.raises(WeightsError, match="no zoo entry of that name"):
        resolve_weights("no-such-model")
    assert cli_main(["weights", "download", "no-such-model"]) == 2


def test_list_json_info_and_mirror(zoo: Path, source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["weights", "list", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert {e.name for e in ZOO} <= set(listed) and "test-lite" in listed
    assert listed["livecell-centermask-v99"]["licence"] == "CC BY-NC 4.0"
    monkeypatch.setenv("CELLSEG_NB_WEIGHTS_MIRROR", "http://mirror.local/weights/")
    assert zoo_entries()["imagenet-vovnet99-d2"].url == "http://mirror.local/weights/vovnet99_ese_detectron2.pth"
    torch.save({"model": to_centermask2_state_dict(source)}, tmp_path / "local.pth")
    assert cli_main(["weights", "info", str(tmp_path / "local.pth"), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["format"] == "centermask2" and facts["tensors"] == 194 and facts["finite"] is True
    assert facts["architecture"]["model"] == LITE and facts["architecture"]["kwargs"]["fpn_channels"] == 128


def test_override_file_errors_name_the_file_and_entry(zoo: Path, tmp_path: Path) -> None:
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump({"coco-centermask-v99": {"sha256": "abc"}}))
    with pytest.raises(ConfigError, match=r"zoo.yaml: coco-centermask-v99.sha256"):
        zoo_entries()
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump({"coco-centermask-v99": {"colour": "red"}}))
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['colour'\]"):
        zoo_entries()
    pinned = "ab" * 32
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump({"coco-centermask-v99": {"sha256": pinned.upper()}}))
    assert zoo_entries()["coco-centermask-v99"].sha256 == pinned


def test_registry_holds_the_published_files() -> None:
    names = {e.name: e for e in ZOO}
    livecell = [e for e in ZOO if e.name.startswith("livecell-")]
    assert len(livecell) == 9 and all(e.licence == "CC BY-NC 4.0" and e.model == "centermask_v99" for e in livecell)
    assert names["livecell-centermask-v99"].url.endswith("/Anchor_free/ALL/LIVECell_anchor_free_model.pth")
    skov3 = names["livecell-centermask-v99-skov3"]
    assert skov3.url.endswith("/Anchor_free/SKOV3/LIVECell_anchor_free_skov3_model.pth")
    assert all(e.config["post_nms_topk_test"] == 3000 for e in livecell)
    assert names["coco-centermask-lite-v19-slim-dw"].config["num_classes"] == 80
    assert {e.file_name for e in ZOO if e.format == "d2-backbone"} == {"vovnet19_ese_slim_dw_detectron2.pth",
                                                                       "vovnet99_ese_detectron2.pth"}
    assert len({e.file_name for e in ZOO}) == len(ZOO)  # one cache file per entry


def test_docs_table_matches_the_registry() -> None:
    text = (REPO / "docs" / "weights.md").read_text()
    found = re.search(r"<!-- zoo-table:start -->\n(.*?)<!-- zoo-table:end -->", text, re.S)
    assert found, "docs/weights.md lacks the zoo-table markers"
    assert found.group(1) == zoo_markdown_table(), "regenerate with cellseg_nb.weights.info.zoo_markdown_table()"
