"""Instance masks kept at box resolution, and the one conversion to full-size masks, RLE or a label image.

A dense LIVECell image holds up to ~2,000 cells; as full-size ``N x H x W`` bool masks that is ~730 MB
per 704 x 520 image, while the same cells inside their boxes take a few MB. Models that predict many
instances (CenterMask) therefore return :class:`BoxMasks`: each mask stored only inside its integer
window ``[x0, x1) x [y0, y1)`` of the image. :func:`prediction_masks` turns either form (a dense
tensor or :class:`BoxMasks`) into what a consumer needs, bounding memory by working in chunks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import torch
from torch import Tensor

#: Masks made full size at a time when a consumer needs full-size masks (bounds memory: 64 x 704 x 520 B).
CHUNK = 64


@dataclass
class BoxMasks:
    """``N`` bool masks of an ``height x width`` image, each stored inside its window.

    ``crops[i]`` is a bool tensor of shape ``(y1 - y0, x1 - x0)`` for ``windows[i] = (x0, y0, x1, y1)``
    (int64, inside the image). Pixels outside a window are False. Indexing with an int list, a slice,
    a bool or an integer tensor gives a new :class:`BoxMasks` (as a tensor would), so a model output's
    ``out["masks"][keep]`` works for either form.
    """

    crops: list[Tensor]
    windows: Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        self.windows = torch.as_tensor(self.windows, dtype=torch.int64).reshape(-1, 4)
        if len(self.crops) != self.windows.shape[0]:
            raise ValueError(f"{len(self.crops)} crops but {self.windows.shape[0]} windows")

    # ------------------------------------------------------------------ tensor-like behaviour
    def __len__(self) -> int:
        return len(self.crops)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, W)``: the shape of the equivalent dense tensor."""
        return (len(self.crops), self.height, self.width)

    def __getitem__(self, index: Any) -> "BoxMasks":
        if isinstance(index, slice):
            idx = list(range(len(self)))[index]
        else:
            t = torch.as_tensor(index)
            if t.dtype == torch.bool:
                t = t.nonzero(as_tuple=True)[0]
            idx = [int(i) for i in t.reshape(-1)]
        return BoxMasks([self.crops[i] for i in idx], self.windows[idx] if idx else self.windows[:0],
                        self.height, self.width)

    def to(self, device: torch.device | str) -> "BoxMasks":
        return BoxMasks([c.to(device) for c in self.crops], self.windows.to(device), self.height, self.width)

    def cpu(self) -> "BoxMasks":
        return self.to("cpu")

    def nbytes(self) -> int:
        """Bytes held by the crops (for memory accounting)."""
        return sum(c.numel() for c in self.crops)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dense(cls, masks: Tensor | np.ndarray) -> "BoxMasks":
        """Crop full-size ``N x H x W`` masks to their tight bounding windows (empty masks keep a 0 x 0 crop)."""
        m = torch.as_tensor(np.asarray(masks) if not isinstance(masks, Tensor) else masks).bool()
        n, height, width = m.shape
        crops, windows = [], []
        for i in range(n):
            ys = m[i].any(1).nonzero(as_tuple=True)[0]
            xs = m[i].any(0).nonzero(as_tuple=True)[0]
            if len(ys) == 0:
                crops.append(m.new_zeros((0, 0)))
                windows.append((0, 0, 0, 0))
                continue
            y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
            crops.append(m[i, y0:y1, x0:x1].clone())
            windows.append((x0, y0, x1, y1))
        return cls(crops, torch.tensor(windows, dtype=torch.int64).reshape(-1, 4), height, width)

    @classmethod
    def from_labels(cls, labels: np.ndarray) -> "BoxMasks":
        """Objects 1..N of an integer label image (label k -> mask k - 1; a missing label gives an empty
        mask), cut at their bounding boxes: no full-size mask per object."""
        from scipy import ndimage as ndi

        labels = np.asarray(labels)
        crops, windows = [], []
        for k, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is None:
                crops.append(torch.zeros((0, 0), dtype=torch.bool))
                windows.append((0, 0, 0, 0))
                continue
            crops.append(torch.from_numpy(labels[sl] == k))
            windows.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
        return cls(crops, torch.tensor(windows, dtype=torch.int64).reshape(-1, 4), *labels.shape)

    @classmethod
    def cat(cls, parts: Sequence["BoxMasks"]) -> "BoxMasks":
        """Concatenate masks of one image size."""
        if not parts:
            raise ValueError("BoxMasks.cat needs at least one part")
        h, w = parts[0].height, parts[0].width
        if any((p.height, p.width) != (h, w) for p in parts):
            raise ValueError("BoxMasks.cat: parts have different image sizes")
        return cls([c for p in parts for c in p.crops], torch.cat([p.windows.cpu() for p in parts]), h, w)

    def shifted(self, dx: int, dy: int, height: int, width: int) -> "BoxMasks":
        """The same masks placed at offset ``(dx, dy)`` of a larger ``height x width`` image (tiling)."""
        offset = torch.tensor([dx, dy, dx, dy], dtype=torch.int64)
        return BoxMasks(list(self.crops), self.windows.cpu() + offset, height, width)

    # ------------------------------------------------------------------ conversions
    def dense_chunks(self, chunk: int = CHUNK) -> Iterator[Tensor]:
        """Full-size bool masks, at most ``chunk`` at a time (in order)."""
        for start in range(0, len(self), chunk):
            part = range(start, min(start + chunk, len(self)))
            out = torch.zeros((len(part), self.height, self.width), dtype=torch.bool)
            for k, i in enumerate(part):
                x0, y0, x1, y1 = (int(v) for v in self.windows[i])
                out[k, y0:y1, x0:x1] = self.crops[i].cpu()
            yield out

    def dense(self) -> Tensor:
        """All masks full size, ``N x H x W`` bool (memory N*H*W bytes: only for few instances)."""
        if len(self) == 0:
            return torch.zeros((0, self.height, self.width), dtype=torch.bool)
        return torch.cat(list(self.dense_chunks()))

    def areas(self) -> Tensor:
        """Pixel count of each mask (int64 ``N``)."""
        return torch.tensor([int(c.sum()) for c in self.crops], dtype=torch.int64)


Masks = Tensor | np.ndarray | BoxMasks


def as_box_masks(masks: Masks) -> BoxMasks:
    """Either form as :class:`BoxMasks` (a dense array is cropped to tight windows)."""
    return masks if isinstance(masks, BoxMasks) else BoxMasks.from_dense(masks)


def mask_count(masks: Masks) -> int:
    return len(masks) if isinstance(masks, BoxMasks) else int(np.asarray(masks.shape)[0])


def _dense_chunks(masks: Masks, chunk: int) -> Iterator[np.ndarray]:
    if isinstance(masks, BoxMasks):
        for part in masks.dense_chunks(chunk):
            yield part.numpy()
        return
    arr = masks.detach().cpu().numpy() if isinstance(masks, Tensor) else np.asarray(masks)
    for start in range(0, arr.shape[0], chunk):
        yield arr[start:start + chunk] != 0


def encode_rles(masks: Masks, chunk: int = CHUNK) -> list[dict]:
    """pycocotools compressed RLEs (``counts`` bytes) of every mask, in order, ``chunk`` masks at a time."""
    from pycocotools import mask as mask_utils

    rles: list[dict] = []
    for part in _dense_chunks(masks, chunk):
        if part.shape[0]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                rles.extend(mask_utils.encode(np.asfortranarray(np.transpose(part, (1, 2, 0)).astype(np.uint8))))
    return rles


def label_image(masks: Masks, scores: Sequence[float] | np.ndarray | Tensor) -> np.ndarray:
    """uint16 ``H x W`` label image; labels by descending score (1 = best); where masks overlap the higher
    score wins (ties: the earlier mask). Same rule as :mod:`cellseg_nb.eval.labels`."""
    s = np.asarray(scores.detach().cpu() if isinstance(scores, Tensor) else scores, dtype=np.float64).reshape(-1)
    box = as_box_masks(masks)
    if len(box) != len(s):
        raise ValueError(f"{len(box)} masks but {len(s)} scores")
    if len(box) > 65535:
        raise ValueError(f"{len(box)} instances do not fit in a uint16 label image (max 65535)")
    labels = np.zeros((box.height, box.width), dtype=np.uint16)
    order = np.argsort(-s, kind="stable")
    for rank in range(len(order) - 1, -1, -1):  # paint worst first so better ones overwrite
        i = int(order[rank])
        x0, y0, x1, y1 = (int(v) for v in box.windows[i])
        crop = box.crops[i].cpu().numpy()
        labels[y0:y1, x0:x1][crop] = rank + 1
    return labels


def prediction_masks(masks: Masks, form: Literal["dense", "rle", "labels"], scores: Any = None) -> Any:
    """The one conversion of a prediction's masks (dense tensor or :class:`BoxMasks`).

    ``"dense"``: bool ``N x H x W`` tensor (N*H*W bytes); ``"rle"``: list of pycocotools RLEs (built
    ``CHUNK`` masks at a time); ``"labels"``: uint16 label image (needs ``scores``; higher score wins).
    """
    if form == "dense":
        return masks.dense() if isinstance(masks, BoxMasks) else torch.as_tensor(np.asarray(masks)).bool()
    if form == "rle":
        return encode_rles(masks)
    if form == "labels":
        if scores is None:
            raise ValueError("a label image needs the scores (labels are numbered by descending score)")
        return label_image(masks, scores)
    raise ValueError(f"form must be 'dense', 'rle' or 'labels', got {form!r}")
