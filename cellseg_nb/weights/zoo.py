"""The model zoo: published weights this package can load, with where they come from and their licence.

Each :class:`ZooEntry` names the registry model it builds (``model`` + ``config`` overrides of
:class:`~cellseg_nb.models.centermask.CenterMaskConfig`), what the file holds (``scope``: a whole detector or
a backbone to start training from), the URL, and the size / sha256 where known (None where not: the
publishers give no checksums; pin one in an override file, see below). URLs are the publishers' own:
LIVECell's ``model/README.md``, centermask2's ``README.md`` and timm's ``default_cfgs`` (``vovnet.py``).

Overrides (air-gapped servers, mirrors, pinned checksums), applied in this order:

- ``$CELLSEG_NB_HOME/zoo.yaml`` and the file named by ``$CELLSEG_NB_ZOO``: a YAML mapping
  ``{NAME: {field: value, ...}}`` that changes fields of an entry (``url``, ``sha256``, ``size``) or adds
  an entry (with at least ``url``, ``file_name``, ``model`` and ``format``);
- ``$CELLSEG_NB_WEIGHTS_MIRROR``: a base URL; every entry is then fetched from ``MIRROR/<file_name>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

LIVECELL_LICENCE = "CC BY-NC 4.0"
CENTERMASK2_LICENCE = "CC BY-NC 4.0 (centermask2 repository licence)"
TIMM_LICENCE = "Apache-2.0 (timm pretrained_cfg)"
_LIVECELL_URL = "https://livecell-dataset.s3.eu-central-1.amazonaws.com/LIVECell_dataset_2021/models/Anchor_free/"
_TIMM_RELEASE = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"

#: LIVECell's inference settings (livecell_config.yaml; spec livecell.md): the CenterMaskConfig defaults, pinned
#: here so a zoo model keeps them even if the defaults change.
LIVECELL_CONFIG: dict[str, Any] = dict(num_classes=1, pixel_mean=128.0, pixel_std=11.578, pre_nms_topk_test=4000,
                                       post_nms_topk_test=3000, detections_per_image=2000, test_min_size=800,
                                       test_max_size=1333)
#: centermask2 COCO settings: 80 classes, FCOS POST_NMS_TOPK_TEST 50, detectron2's BGR mean with std 1 (the
#: grey model input takes the mean of the three channel means, 114.495).
_COCO = dict(num_classes=80, pixel_mean=114.495, pixel_std=1.0, pre_nms_topk_test=1000, post_nms_topk_test=50)


@dataclass(frozen=True)
class ZooEntry:
    """One downloadable weights file."""

    name: str
    model: str                        # registry name (cellseg_nb.models.registry) the weights fit
    config: dict[str, Any]            # config overrides of that model (CenterMaskConfig fields)
    scope: str                        # "model" (a whole detector) or "backbone" (ImageNet trunk for training)
    trained_on: str
    licence: str
    url: str
    file_name: str
    format: str                       # as recognised by read_weights: centermask2, d2-backbone, timm
    size: int | None = None           # bytes, None when unknown
    sha256: str | None = None         # hex digest, None when unknown
    sha256_prefix: str | None = None  # first hex digits of the sha256 (timm release file names carry 8)
    source: str = ""                  # where the URL was published
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _livecell(cell: str | None, folder: str) -> ZooEntry:
    stem = "LIVECell_anchor_free_model.pth" if cell is None else f"LIVECell_anchor_free_{folder.lower()}_model.pth"
    return ZooEntry(
        name="livecell-centermask-v99" + ("" if cell is None else f"-{folder.lower()}"),
        model="centermask_v99", config=dict(LIVECELL_CONFIG), scope="model",
        trained_on="LIVECell (all eight cell lines)" if cell is None else f"LIVECell {cell} images",
        licence=LIVECELL_LICENCE, url=f"{_LIVECELL_URL}{'ALL' if cell is None else folder}/{stem}", file_name=stem,
        format="centermask2", source="sartorius-research/LIVECell model/README.md (anchor-free)")


_CELLS = (("A172", "A172"), ("BT-474", "BT474"), ("BV-2", "BV2"), ("Huh7", "HUH7"), ("MCF7", "MCF7"),
          ("SH-SY5Y", "SHSY5Y"), ("SkBr3", "SKBR3"), ("SK-OV-3", "SKOV3"))

ZOO: tuple[ZooEntry, ...] = (
    _livecell(None, "ALL"),
    *(_livecell(cell, folder) for cell, folder in _CELLS),
    ZooEntry(name="coco-centermask-lite-v19-slim-dw", model="centermask_lite_v19_slim_dw",
             config=dict(_COCO, test_min_size=600, test_max_size=1000), scope="model",
             trained_on="MS-COCO 2017 train (80 classes)", licence=CENTERMASK2_LICENCE,
             url="https://dl.dropbox.com/s/vsvhwtqm6ko1c7m/centermask-lite-V-19-eSE-slim-dw-FPN-ms-4x.pth",
             file_name="centermask-lite-V-19-eSE-slim-dw-FPN-ms-4x.pth", format="centermask2",
             source="youngwanLEE/centermask2 README.md (CenterMask2-Lite V-19-Slim-DW, 4x)",
             notes="start of the study's CenterMask-Lite transfer learning"),
    ZooEntry(name="coco-centermask-v99", model="centermask_v99",
             config=dict(_COCO, test_min_size=800, test_max_size=1333), scope="model",
             trained_on="MS-COCO 2017 train (80 classes)", licence=CENTERMASK2_LICENCE,
             url="https://dl.dropbox.com/s/c6n79x83xkdowqc/centermask2-V-99-eSE-FPN-ms-3x.pth",
             file_name="centermask2-V-99-eSE-FPN-ms-3x.pth", format="centermask2",
             source="youngwanLEE/centermask2 README.md (CenterMask2 V2-99, 3x)",
             notes="start of the study's CenterMask V-99 transfer learning"),
    ZooEntry(name="imagenet-vovnet19-slim-dw-d2", model="centermask_lite_v19_slim_dw", config={},
             scope="backbone", trained_on="ImageNet-1k (backbone only)", licence=CENTERMASK2_LICENCE,
             url="https://dl.dropbox.com/s/f3s7ospitqoals1/vovnet19_ese_slim_dw_detectron2.pth",
             file_name="vovnet19_ese_slim_dw_detectron2.pth", format="d2-backbone",
             source="youngwanLEE/centermask2 README.md (ImageNet pretrained models)",
             notes="the README links www.dropbox.com/s/...; dl.dropbox.com serves the file itself"),
    ZooEntry(name="imagenet-vovnet99-d2", model="centermask_v99", config={}, scope="backbone",
             trained_on="ImageNet-1k (backbone only)", licence=CENTERMASK2_LICENCE,
             url="https://dl.dropbox.com/s/1mlv31coewx8trd/vovnet99_ese_detectron2.pth",
             file_name="vovnet99_ese_detectron2.pth", format="d2-backbone",
             source="youngwanLEE/centermask2 README.md (ImageNet pretrained models)",
             notes="LIVECell's starting point (livecell_config.yaml MODEL.WEIGHTS)"),
    ZooEntry(name="imagenet-ese-vovnet19b-dw-timm", model="centermask_lite_v19_slim_dw",
             config=dict(backbone="ese_vovnet19b_dw"), scope="backbone", trained_on="ImageNet-1k (timm ra_in1k)",
             licence=TIMM_LICENCE, url=_TIMM_RELEASE + "ese_vovnet19b_dw-a8741004.pth",
             file_name="ese_vovnet19b_dw-a8741004.pth", format="timm", size=26243175, sha256_prefix="a8741004",
             source="timm vovnet.py default_cfgs; size from timm docs model-index"),
    ZooEntry(name="imagenet-ese-vovnet39b-timm", model="centermask_v39", config={}, scope="backbone",
             trained_on="ImageNet-1k (timm ra_in1k)", licence=TIMM_LICENCE,
             url=_TIMM_RELEASE + "ese_vovnet39b-f912fe73.pth", file_name="ese_vovnet39b-f912fe73.pth",
             format="timm", size=98397138, sha256_prefix="f912fe73",
             source="timm vovnet.py default_cfgs; size from timm docs model-index",
             notes="timm has eSE only in each stage's last block; the others start as the identity"),
    ZooEntry(name="imagenet-ese-vovnet57b-timm", model="centermask_v57", config={}, scope="backbone",
             trained_on="ImageNet-1k (timm ra4_e3600_r256_in1k)", licence=TIMM_LICENCE,
             url="https://huggingface.co/timm/ese_vovnet57b.ra4_e3600_r256_in1k/resolve/main/model.safetensors",
             file_name="ese_vovnet57b.ra4_e3600_r256_in1k.safetensors", format="timm",
             source="timm vovnet.py default_cfgs (hf_hub_id timm/, timm >= 1.0.14)",
             notes="trained with mean = std = 0.5; eSE only in each stage's last block"),
)

_HEX = re.compile(r"^[0-9a-f]+$")


def cellseg_home() -> Path:
    """``$CELLSEG_NB_HOME`` or ``~/.cache/cellseg-nb``."""
    return Path(os.environ.get("CELLSEG_NB_HOME") or Path.home() / ".cache" / "cellseg-nb").expanduser()


def weights_dir() -> Path:
    """Where zoo files are cached: ``<cellseg_home()>/weights``."""
    return cellseg_home() / "weights"


def _override_files() -> list[Path]:
    files = [cellseg_home() / "zoo.yaml"]
    if os.environ.get("CELLSEG_NB_ZOO"):
        files.append(Path(os.environ["CELLSEG_NB_ZOO"]).expanduser())
    return files


def _check(entry: ZooEntry, origin: str) -> ZooEntry:
    for key in ("sha256", "sha256_prefix"):
        value = getattr(entry, key)
        if value is not None and (not _HEX.match(str(value)) or (key == "sha256" and len(value) != 64)):
            raise ConfigError(f"{origin}: {entry.name}.{key}: expected hex digits (64 for sha256), got {value!r}")
    if entry.size is not None and (not isinstance(entry.size, int) or entry.size <= 0):
        raise ConfigError(f"{origin}: {entry.name}.size: expected a byte count > 0, got {entry.size!r}")
    return entry


def _apply_file(entries: dict[str, ZooEntry], path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the zoo override file ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of zoo names to fields")
    known = {f.name for f in fields(ZooEntry)} - {"name"}
    for name, changes in data.items():
        if not isinstance(changes, dict):
            raise ConfigError(f"{path}: {name}: expected a mapping of fields")
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"{path}: {name}: unknown field(s) {unknown}; known: {sorted(known)}")
        changes = {k: (str(v).lower() if k.startswith("sha256") and v is not None else v) for k, v in changes.items()}
        if name in entries:
            entries[name] = _check(replace(entries[name], **changes), str(path))
            continue
        needed = {"model", "url", "file_name", "format"} - set(changes)
        if needed:
            raise ConfigError(f"{path}: new entry {name}: needs {sorted(needed)}")
        base = dict(config={}, scope="model", trained_on="", licence="unknown")
        entries[name] = _check(ZooEntry(name=str(name), **{**base, **changes}), str(path))


def zoo_entries() -> dict[str, ZooEntry]:
    """Every zoo entry by name, with the override files and the mirror (module docstring) applied."""
    entries = {entry.name: entry for entry in ZOO}
    for path in _override_files():
        if path.is_file():
            _apply_file(entries, path)
    mirror = os.environ.get("CELLSEG_NB_WEIGHTS_MIRROR")
    if mirror:
        entries = {n: replace(e, url=mirror.rstrip("/") + "/" + e.file_name) for n, e in entries.items()}
    return entries


def zoo_entry(name: str) -> ZooEntry | None:
    """The entry called ``name`` (overrides applied), None when there is none."""
    return zoo_entries().get(str(name))


def default_zoo() -> tuple[ZooEntry, ...]:
    """The built-in entries, without overrides (what docs/weights.md tabulates)."""
    return ZOO


__all__ = ["ZOO", "ZooEntry", "cellseg_home", "default_zoo", "weights_dir", "zoo_entries", "zoo_entry",
           "LIVECELL_CONFIG"]
