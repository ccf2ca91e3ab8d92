"""Label images and their colouring for the prediction browser: one integer image per layer (ground
truth, each model's predictions), outlines traced from it, colours looked up per label.

Rasterising 2,000 cells takes ~15 ms (all run lengths at once, :func:`cellseg_nb.eval.matching.rle_pixels`,
the same pixel lists the evaluation's IoUs are counted from), done once per image and model; every
later change (threshold, colours, style, opacity) is a few vectorised look-ups over ``H x W`` pixels.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), and each
colour means one thing everywhere in the browser (:data:`MEANING_COLORS`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from ..eval.matching import rle_pixels

Color = tuple[int, int, int]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO: dict[str, Color] = {
    "orange": (230, 159, 0), "sky blue": (86, 180, 233), "bluish green": (0, 158, 115),
    "yellow": (240, 228, 66), "blue": (0, 114, 178), "vermillion": (213, 94, 0),
    "reddish purple": (204, 121, 167), "grey": (153, 153, 153),
}

#: One colour per meaning: what a layer is (ground truth, prediction) or its error class.
MEANING_COLORS: dict[str, Color] = {
    "ground truth": OKABE_ITO["sky blue"],
    "prediction": OKABE_ITO["orange"],
    "matched": OKABE_ITO["bluish green"],
    "merged": OKABE_ITO["reddish purple"],
    "split": OKABE_ITO["yellow"],
    "missed": OKABE_ITO["vermillion"],
    "spurious": OKABE_ITO["blue"],
    "ignored": OKABE_ITO["grey"],
}

#: What each class means, for the legend's tooltips.
CLASS_HELP: dict[str, str] = {
    "ground truth": "an annotated cell",
    "prediction": "a predicted cell scoring at least the threshold",
    "matched": "cell and prediction matched at IoU >= 0.5",
    "merged": "one prediction covers two or more cells",
    "split": "a cell cut into two or more predicted fragments",
    "missed": "a cell no prediction matched, merged or split",
    "spurious": "a prediction matching no cell",
    "ignored": "crowd region (not scored)",
}


def label_image(rles: Sequence[dict], height: int, width: int, *, priority: str = "last") -> np.ndarray:
    """Integer ``H x W`` image with object ``k`` painted as ``k + 1`` (0 = background).

    Where objects overlap, ``priority="last"`` keeps the later object and ``"first"`` the earlier one
    (pass predictions in score order with ``"first"`` so each pixel shows its best-scoring prediction;
    then the visible set at any score threshold is exactly the labels below the number kept)."""
    pixel, owner = rle_pixels(rles)
    flat = np.zeros(height * width, dtype=np.int32)  # column-major, as RLEs count
    if pixel.size:
        value = (owner + 1).astype(np.int32)
        if priority == "first":
            best = np.full(height * width, np.iinfo(np.int32).max, dtype=np.int32)
            np.minimum.at(best, pixel, value)
            flat = np.where(best == np.iinfo(np.int32).max, 0, best).astype(np.int32)
        else:
            np.maximum.at(flat, pixel, value)
    return np.ascontiguousarray(flat.reshape(width, height).T)


def label_outline(labels: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Inner boundary of every labelled object: labelled pixels within ``thickness`` pixels (8-neighbour
    steps) of another label or of the image border."""
    size = 2 * int(thickness) + 1
    high = ndimage.maximum_filter(labels, size=size, mode="constant", cval=0)
    low = ndimage.minimum_filter(labels, size=size, mode="constant", cval=0)
    return (labels > 0) & ((high != labels) | (low != labels))


def visible_labels(labels: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """``labels`` with every object whose ``visible[label]`` is False set to background."""
    return np.where(visible[labels], labels, 0)


def paint(rgb: np.ndarray, labels: np.ndarray, lut: np.ndarray, *, filled: bool, opacity: float,
          thickness: int = 1, outline: np.ndarray | None = None) -> np.ndarray:
    """Paint objects of ``labels`` (0 = none) onto float ``rgb`` in place in colour ``lut[label]``
    (``(K + 1) x 3``): the outline opaque, and when ``filled`` the inside at ``opacity`` (the image
    shows through). ``outline`` is :func:`label_outline` of ``labels`` when already known.

    Hiding objects (setting them to 0) does not move the others' outlines: a visible pixel is on its
    object's outline exactly when it was before, since a hidden neighbour differs from it either way.
    So the outline of a label image can be computed once and masked with ``labels > 0``."""
    outline = label_outline(labels, thickness) if outline is None else outline & (labels > 0)
    colors = lut.astype(np.float32)
    if filled:
        area = (labels > 0) & ~outline
        rgb[area] = (1 - opacity) * rgb[area] + opacity * colors[labels[area]]
    rgb[outline] = colors[labels[outline]]
    return rgb


def class_lut(classes: Sequence[str], default: Color | None = None) -> np.ndarray:
    """``(K + 1) x 3`` colour table for objects ``1..K`` by class name (row 0 unused)."""
    lut = np.zeros((len(classes) + 1, 3), dtype=np.float32)
    for k, name in enumerate(classes):
        lut[k + 1] = MEANING_COLORS.get(str(name), default or MEANING_COLORS["ignored"])
    return lut


def plain_lut(n: int, color: Color) -> np.ndarray:
    """``(n + 1) x 3`` colour table painting every object in one colour."""
    lut = np.empty((n + 1, 3), dtype=np.float32)
    lut[:] = color
    return lut


def grey_rgb(image: np.ndarray) -> np.ndarray:
    """A grey uint8 image as float32 ``H x W x 3`` (the canvas the layers are painted on)."""
    image = np.asarray(image)
    if image.ndim == 3:
        return image[..., :3].astype(np.float32)
    return np.repeat(image[..., None], 3, axis=2).astype(np.float32)
