"""Checks of single COCO record fields, made in Python before pycocotools or faster-coco-eval sees them.

The C mask libraries trust their input: a compressed RLE ``counts`` string of garbage makes
pycocotools decode negative or enormous runs and spin (uninterruptibly) or crash without naming the
record; a polygon coordinate of 1e12 makes it allocate a line of a trillion points; a NaN ``area``
puts a cell in every size class. Every function here answers "what is wrong with this value?" with a
short problem string, or ``None`` when the value is fine, so the loaders (ground truth in
:mod:`cellseg_nb.data.coco`, predictions in :mod:`cellseg_nb.eval.predictions`) can raise a
:class:`~cellseg_nb.errors.DataError` naming file and record, or count a skip.

Compressed RLE strings are decoded here with numpy, in time linear in the string's length and with
every value bounded, so no input can hang the check.

Tolerance: LIVECell's polygons and boxes lie inside the image (the shipped files stay within
[0, width] x [0, height]); a bbox or polygon coordinate may lie up to :data:`BOX_TOLERANCE_PX` pixels
outside the image before it counts as wrong (rounding and one-pixel-off exporters stay accepted).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

import numpy as np

#: Pixels a bbox edge or polygon coordinate may lie outside the image before it is an error.
BOX_TOLERANCE_PX: float = 2.0
#: Characters of a compressed RLE value: 5 bits each, so 13 characters exceed any 64-bit run length.
_MAX_CHARS_PER_VALUE = 12


class RleError(ValueError):
    """A compressed RLE string that does not describe a mask of its stated size."""


def is_real(value: Any) -> bool:
    """A JSON number: int or float (numpy scalars too), not bool, not str."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the slower abstract-class check
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """An integer, or a float with an integral value (json may write 3.0), not bool."""
    return is_real(value) and math.isfinite(value) and float(value) == int(value)


def decode_rle_counts(counts: str | bytes, height: int, width: int) -> np.ndarray:
    """The run lengths of a compressed COCO RLE string, checked to cover exactly ``height * width`` pixels.

    COCO's string form (pycocotools' ``rleToString``) writes each run length as 5-bit groups, low bits
    first, each group as the character ``48 + bits`` with bit 0x20 set while more groups follow and
    bit 0x10 of the last group the sign; from the third value on, each value is stored as the
    difference to the value two places before. Raises :class:`RleError` for characters outside
    ``'0'..'o'``, a value cut off mid-way, a value longer than 12 characters, a negative run, or runs
    that do not sum to ``height * width``. Linear time, bounded memory.
    """
    if isinstance(counts, str):
        if not counts.isascii():
            raise RleError("RLE counts has non-ASCII characters; compressed COCO RLE uses only '0' to 'o'")
        raw = counts.encode("ascii")
    else:
        raw = bytes(counts)
    total = int(height) * int(width)
    codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        raise RleError(f"RLE counts is empty; a {width}x{height} mask needs runs summing to {total}")
    bad = (codes < 0) | (codes > 63)
    if bad.any():
        k = int(np.argmax(bad))
        raise RleError(f"RLE counts has character {chr(raw[k])!r} at position {k}; compressed COCO RLE uses "
                       "only '0' to 'o'")
    more = (codes & 0x20) != 0
    if more[-1]:
        raise RleError("RLE counts ends in the middle of a value (truncated string)")
    ends = np.flatnonzero(~more)
    starts = np.r_[0, ends[:-1] + 1]
    lengths = ends - starts + 1
    if lengths.max() > _MAX_CHARS_PER_VALUE:
        raise RleError(f"RLE counts holds a value of {int(lengths.max())} characters; no run length needs more "
                       f"than {_MAX_CHARS_PER_VALUE}")
    position = np.arange(codes.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(np.int64(1), 5 * lengths[negative])
    if np.abs(values).max() > total:
        raise RleError(f"RLE counts holds a run of {int(np.abs(values).max())} pixels; the mask has {total}")
    runs = values.copy()
    if runs.size > 2:  # from the third value on: difference to the value two places before
        runs[2::2] = np.cumsum(values[2::2])
        runs[3::2] = values[1] + np.cumsum(values[3::2])
    if (runs < 0).any():
        k = int(np.argmax(runs < 0))
        raise RleError(f"RLE counts decodes to a negative run ({int(runs[k])}) at run {k}")
    covered = int(runs.sum())
    if covered != total:
        raise RleError(f"RLE runs cover {covered} pixels; a {width}x{height} mask has {total}")
    return runs


def rle_problem(seg: Mapping[str, Any], size: tuple[int, int]) -> str | None:
    """What is wrong with an RLE segmentation ``{"size": [h, w], "counts": ...}`` for an image of ``size`` (h, w)."""
    if "counts" not in seg or "size" not in seg:
        return "RLE segmentation needs 'size' and 'counts'"
    rle_size = seg["size"]
    if (not isinstance(rle_size, (list, tuple)) or len(rle_size) != 2 or not all(is_whole(v) for v in rle_size)):
        return f"RLE size must be [height, width] (two whole numbers), got {rle_size!r}"
    height, width = int(size[0]), int(size[1])
    if [int(rle_size[0]), int(rle_size[1])] != [height, width]:
        return (f"RLE size {[int(v) for v in rle_size]} ([height, width]) differs from the image's "
                f"[{height}, {width}]")
    counts = seg["counts"]
    if isinstance(counts, list):
        if not counts:
            return "uncompressed RLE counts is an empty list"
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in counts):
            return "uncompressed RLE counts must be whole numbers"
        if min(counts) < 0:
            return "uncompressed RLE counts holds a negative run"
        covered = sum(counts)
        if covered != height * width:
            return f"uncompressed RLE runs cover {covered} pixels; a {width}x{height} mask has {height * width}"
        return None
    if not isinstance(counts, (str, bytes)):
        return f"RLE counts must be a string (compressed) or a list of runs, got {type(counts).__name__}"
    try:
        decode_rle_counts(counts, height, width)
    except RleError as exc:
        return str(exc)
    return None


def polygons_problem(seg: Any, size: tuple[int, int]) -> str | None:
    """What is wrong with a polygon segmentation ``[[x1, y1, x2, y2, ...], ...]`` for an image of ``size`` (h, w)."""
    if not isinstance(seg, list) or not seg:
        return "segmentation is empty or not a list of polygons"
    height, width = float(size[0]), float(size[1])
    tol = BOX_TOLERANCE_PX
    for poly in seg:
        if not isinstance(poly, list):
            return "segmentation must be a list of polygons [[x1, y1, x2, y2, ...]]"
        if len(poly) < 6 or len(poly) % 2:
            return f"polygon has {len(poly)} coordinates; a polygon needs at least 3 points (6 numbers, even count)"
        # plain Python on purpose: LIVECell has ~1.6M polygons of ~30 points, where numpy's per-call
        # overhead would add a minute to loading; sum() raises on non-numbers and carries NaN / inf
        try:
            total = sum(poly)
        except TypeError:
            return "polygon has non-numeric coordinates"
        if not is_real(total):  # e.g. a polygon of lists of numbers sums without a TypeError
            return "polygon has non-numeric coordinates"
        if not math.isfinite(total):
            return "polygon has NaN or infinite coordinates"
        lo, hi = min(poly), max(poly)
        bad = lo < -tol or hi > max(width, height) + tol
        if not bad and hi > min(width, height) + tol:  # only the shorter axis can still be exceeded
            bad = max(poly[1::2] if height <= width else poly[0::2]) > min(width, height) + tol
        if not bad:
            continue
        xs, ys = poly[0::2], poly[1::2]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if x0 < -tol or y0 < -tol or x1 > width + tol or y1 > height + tol:
            return (f"polygon reaches ({x0:g}..{x1:g}, {y0:g}..{y1:g}), outside the "
                    f"{width:g}x{height:g} image by more than {tol:g} px")
    return None


def area_problem(area: Any, size: tuple[int, int]) -> str | None:
    """What is wrong with an ``area``: it decides the COCO size class, so it must be finite, >= 0, <= h*w."""
    if not is_real(area):
        return f"area must be a number, got {area!r}"
    if not math.isfinite(area) or area < 0:
        return f"area must be a finite number >= 0, got {area!r}"
    if area > float(size[0]) * float(size[1]):
        return f"area {area:g} exceeds the image's {int(size[0]) * int(size[1])} pixels"
    return None


def bbox_problem(bbox: Any, size: tuple[int, int]) -> str | None:
    """What is wrong with a ``bbox`` ``[x, y, w, h]``: four finite numbers, w, h >= 0, inside the image.

    Inside means within :data:`BOX_TOLERANCE_PX` of the image's edges.
    """
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return f"bbox must be [x, y, w, h] (four numbers), got {bbox!r}"
    x, y, w, h = bbox
    if not (is_real(x) and is_real(y) and is_real(w) and is_real(h)):
        return f"bbox must be [x, y, w, h] (four numbers), got {bbox!r}"
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(w) and math.isfinite(h)):
        return f"bbox has NaN or infinite values: {list(bbox)!r}"
    if w < 0 or h < 0:
        return f"bbox width and height must be >= 0, got {list(bbox)!r}"
    height, width = float(size[0]), float(size[1])
    tol = BOX_TOLERANCE_PX
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return f"bbox {list(bbox)!r} lies outside the {width:g}x{height:g} image by more than {tol:g} px"
    return None


def id_problem(value: Any, key: str) -> str | None:
    """What is wrong with an id-like field (``id``, ``image_id``): an integer or a string."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        return f"'{key}' is {value!r}, expected an integer or a string"
    return None


def flag_problem(value: Any, key: str) -> str | None:
    """What is wrong with a 0/1 flag such as ``iscrowd``."""
    if not is_whole(value) or int(value) not in (0, 1):
        return f"'{key}' is {value!r}, expected 0 or 1"
    return None


__all__: Sequence[str] = ("BOX_TOLERANCE_PX", "RleError", "decode_rle_counts", "rle_problem", "polygons_problem",
                          "area_problem", "bbox_problem", "id_problem", "flag_problem", "is_real", "is_whole")
