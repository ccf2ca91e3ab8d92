"""On-disk cache of rasterised targets, so training epochs do not rasterise every polygon again.

One compressed ``.npz`` per image holds the cropped cell masks (bit-packed) and the semantic map. Entries
live in a folder keyed by the annotation file (its resolved path, size and modification time) or, for
data built in memory, by a hash of the annotations themselves, plus the boundary width: editing the
annotations gives a new folder, never a stale target. Writes are atomic; an unreadable entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..atomic import atomic_path
from .targets import DEFAULT_BOUNDARY_WIDTH, RasterTargets, rasterize

log = logging.getLogger(__name__)
_FORMAT = 1


def content_key(annotations: Sequence[Mapping[str, Any]]) -> str:
    """A stable hash of annotation records (for datasets that have no file behind them)."""
    digest = hashlib.sha1()
    for ann in annotations:
        digest.update(json.dumps(ann, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def file_key(path: str | Path) -> str:
    """A hash of an annotation file's resolved path, size and modification time."""
    path = Path(path).resolve()
    stat = path.stat()
    return hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


class TargetCache:
    """Rasterised targets of one annotation source under ``root``.

    ``source`` is the annotation file (keyed by path, size and mtime) or a precomputed key string such as
    :func:`content_key` of in-memory annotations.
    """

    def __init__(self, root: str | Path, source: str | Path, *, boundary_width: int = DEFAULT_BOUNDARY_WIDTH,
                 key: str | None = None) -> None:
        self.boundary_width = int(boundary_width)
        if key is None:
            key, name = file_key(source), Path(source).stem
        else:
            name = str(source)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
        self.folder = Path(root) / f"{stem}-{key}-b{self.boundary_width}-v{_FORMAT}"

    def path_for(self, image_id: Any) -> Path:
        """The entry file of an image."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(image_id))
        return self.folder / f"{safe}.npz"

    def get(self, image_id: Any, anns: Sequence[Mapping[str, Any]], height: int, width: int) -> RasterTargets:
        """The image's targets: read from the cache, or rasterised and written on a miss."""
        path = self.path_for(image_id)
        if path.is_file():
            try:
                targets = _read(path)
                if (targets.height, targets.width, len(targets)) == (height, width, len(anns)):
                    return targets
                log.warning("%s: cached targets do not match the annotations; rebuilding", path)
            except Exception as exc:  # noqa: BLE001 - any unreadable entry is rebuilt, never trusted
                log.warning("%s: unreadable cache entry (%s); rebuilding", path, exc)
        targets = rasterize(anns, height, width, self.boundary_width)
        _write(path, targets)
        return targets


def _write(path: Path, t: RasterTargets) -> None:
    sizes = np.array([c.size for c in t.crops], np.int64)
    packed = np.packbits(np.concatenate([c.ravel() for c in t.crops]).astype(bool)) if t.crops else \
        np.zeros(0, np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, shape=np.array([t.height, t.width]), windows=t.windows, sizes=sizes,
                                packed=packed, semantic=t.semantic)


def _read(path: Path) -> RasterTargets:
    with np.load(path, allow_pickle=False) as data:
        height, width = (int(v) for v in data["shape"])
        windows, sizes, semantic = data["windows"], data["sizes"], data["semantic"]
        bits = np.unpackbits(data["packed"], count=int(sizes.sum())) if len(sizes) else np.zeros(0, np.uint8)
    crops, start = [], 0
    for (t, l, b, r), n in zip(windows, sizes):
        crops.append(bits[start:start + n].reshape(max(int(b - t), 0), max(int(r - l), 0)))
        start += n
    if semantic.shape != (height, width):
        raise ValueError(f"semantic map {semantic.shape} differs from {height}x{width}")
    return RasterTargets(height, width, windows, crops, semantic)
