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
    bit 0x10 of the last group the sign; from the fourth value on (index 3), each value is stored as
    the difference to the value two places before. Raises :class:`RleError` for characters outside
    ``'0'..'o'``, a value cut off mid-way, a value longer than 12 characters, a negative run, or runs
    that do not sum to ``height * width``. Linear time, bounded memory.
    """
    problems, runs, owner = _decode_many([counts], [(height, width)])
    if problems[0] is not None:
        raise RleError(problems[0])
    return runs[owner == 0]


def rle_counts_problems(counts: Sequence[str | bytes], sizes: Sequence[tuple[int, int]]) -> list[str | None]:
    """:func:`decode_rle_counts`'s verdict on many strings at once (``sizes``: ``(height, width)`` each).

    One vectorised pass over all strings together, so a results file of 100,000 masks is checked in
    about the time pycocotools takes to read it; ``None`` where a string is fine.
    """
    return _decode_many(counts, sizes)[0]


def decode_rle_counts_many(counts: Sequence[str | bytes], sizes: Sequence[tuple[int, int]],
                           ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decode_rle_counts` of many strings in one vectorised pass: ``(runs, owner)``, every string's
    run lengths concatenated and the index of the string each run belongs to. Raises :class:`RleError`
    naming the first bad string (used by the prediction browser to paint label images)."""
    problems, runs, owner = _decode_many(counts, sizes)
    for i, problem in enumerate(problems):
        if problem is not None:
            raise RleError(f"mask #{i}: {problem}")
    return runs, owner


def _decode_many(counts: Sequence[str | bytes], sizes: Sequence[tuple[int, int]]):
    """(problem per string, all decoded runs, the string each run belongs to)."""
    n = len(counts)
    problems: list[str | None] = [None] * n
    raws = []
    for i, c in enumerate(counts):
        if isinstance(c, str) and not c.isascii():
            problems[i] = "RLE counts has non-ASCII characters; compressed COCO RLE uses only '0' to 'o'"
            raws.append(b"")
        else:
            raws.append(c.encode("ascii") if isinstance(c, str) else bytes(c))
    heights = np.array([int(h) for h, _ in sizes], dtype=np.int64)
    widths = np.array([int(w) for _, w in sizes], dtype=np.int64)
    totals = heights * widths
    lengths = np.fromiter((len(r) for r in raws), dtype=np.int64, count=n)

    def flag(records, message) -> None:
        for i in np.unique(records):
            if problems[i] is None:
                problems[i] = message(int(i))

    flag(np.flatnonzero(lengths == 0), lambda i: f"RLE counts is empty; a {widths[i]}x{heights[i]} mask needs "
                                                 f"runs summing to {totals[i]}")
    buf = b"".join(raws)
    codes = np.frombuffer(buf, dtype=np.uint8).astype(np.int64) - 48
    owner_of_char = np.repeat(np.arange(n), lengths)
    starts_of = np.r_[0, np.cumsum(lengths)[:-1]]
    bad = (codes < 0) | (codes > 63)
    if bad.any():
        where = np.flatnonzero(bad)
        recs, first = np.unique(owner_of_char[where], return_index=True)
        for i, pos in zip(recs, where[first]):
            if problems[i] is None:
                k = int(pos - starts_of[i])
                problems[i] = (f"RLE counts has character {chr(buf[pos])!r} at position {k}; compressed COCO RLE "
                               "uses only '0' to 'o'")
        codes = np.where(bad, 0, codes)
    more = (codes & 0x20) != 0
    last = (starts_of + lengths - 1)[lengths > 0]
    flag(owner_of_char[last[more[last]]], lambda i: "RLE counts ends in the middle of a value (truncated string)")
    more[last] = False                     # every string's last character closes its last value
    ends = np.flatnonzero(~more)
    if ends.size == 0:
        return problems, np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.r_[0, ends[:-1] + 1]
    glen = ends - starts + 1
    owner = owner_of_char[ends]
    longest = np.zeros(n, np.int64)
    np.maximum.at(longest, owner, glen)
    flag(np.flatnonzero(longest > _MAX_CHARS_PER_VALUE),
         lambda i: f"RLE counts holds a value of {longest[i]} characters; no run length needs more than "
                   f"{_MAX_CHARS_PER_VALUE}")
    position = np.minimum(np.arange(codes.size) - np.repeat(starts, glen), _MAX_CHARS_PER_VALUE)
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.left_shift(np.int64(1), 5 * np.minimum(glen[negative], _MAX_CHARS_PER_VALUE))
    largest = np.zeros(n, np.int64)
    np.maximum.at(largest, owner, np.abs(values))
    flag(np.flatnonzero(largest > totals), lambda i: f"RLE counts holds a run of {largest[i]} pixels; the mask "
                                                     f"has {totals[i]}")
    values[(np.abs(values) > totals[owner]) | (glen > _MAX_CHARS_PER_VALUE)] = 0  # no overflow below
    # from a string's fourth value (k = 3) on, each is the difference to the value two places before:
    # runs are running sums along its even values from k = 2 and its odd values from k = 1
    k = np.arange(values.size) - np.searchsorted(owner, owner)
    runs = values.copy()
    for chain in ((k % 2 == 0) & (k >= 2), k % 2 == 1):
        idx = np.flatnonzero(chain)
        if idx.size:
            x, chain_owner = values[idx], owner[idx]
            total = np.cumsum(x)
            first = np.r_[True, chain_owner[1:] != chain_owner[:-1]]
            before = (total - x)[np.maximum.accumulate(np.where(first, np.arange(idx.size), 0))]
            runs[idx] = total - before
    if (runs < 0).any():
        where = np.flatnonzero(runs < 0)
        recs, first = np.unique(owner[where], return_index=True)
        for i, j in zip(recs, where[first]):
            if problems[i] is None:
                problems[i] = f"RLE counts decodes to a negative run ({int(runs[j])}) at run {int(k[j])}"
    covered = np.zeros(n, np.int64)
    np.add.at(covered, owner, runs)
    flag(np.flatnonzero((covered != totals) & (lengths > 0)),
         lambda i: f"RLE runs cover {covered[i]} pixels; a {widths[i]}x{heights[i]} mask has {totals[i]}")
    return problems, runs, owner


def rle_problem(seg: Mapping[str, Any], size: tuple[int, int], *, check_counts: bool = True) -> str | None:
    """What is wrong with an RLE segmentation ``{"size": [h, w], "counts": ...}`` for an image of ``size`` (h, w).

    ``check_counts=False`` leaves a compressed string's decoding to a later :func:`rle_counts_problems`
    over many records at once.
    """
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
    if not check_counts:
        return None
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


__all__: Sequence[str] = ("BOX_TOLERANCE_PX", "RleError", "decode_rle_counts", "decode_rle_counts_many",
                          "rle_counts_problems", "rle_problem", "polygons_problem",
                          "area_problem", "bbox_problem", "id_problem", "flag_problem", "is_real", "is_whole")
