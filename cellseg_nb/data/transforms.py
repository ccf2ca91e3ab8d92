"""Augmentation that keeps image, masks and semantic map consistent.

Geometry is the dihedral group of the square (90-degree rotations and flips: no interpolation, so masks
stay exactly pycocotools' masks) plus a random crop; intensity is a brightness shift and a contrast
change about the image mean, applied to the image only. Every draw comes from a
``numpy.random.Generator`` so a sample is reproducible from (seed, epoch, index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """What to randomise. ``brightness``: largest additive shift in grey levels (of 0..255);
    ``contrast``: largest relative change of the contrast about the image mean (0.15 = x0.85..x1.15)."""

    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    brightness: float = 10.0
    contrast: float = 0.15

    def __post_init__(self) -> None:
        if self.brightness < 0 or not 0 <= self.contrast < 1:
            raise ValueError(f"AugmentConfig: brightness must be >= 0 and contrast in [0, 1), got "
                             f"{self.brightness}, {self.contrast}")


def augment_config(augment: bool | AugmentConfig | None) -> AugmentConfig | None:
    """``True`` -> the default config, ``False``/``None`` -> no augmentation, a config as is."""
    if isinstance(augment, AugmentConfig):
        return augment
    return AugmentConfig() if augment else None


@dataclass(frozen=True)
class Geometry:
    """A dihedral transform: rotate by ``k`` quarter turns (numpy's ``rot90`` sense), then flip."""

    k: int = 0
    hflip: bool = False
    vflip: bool = False

    @property
    def swaps_axes(self) -> bool:
        return self.k % 2 == 1


IDENTITY = Geometry()


def draw_geometry(rng: np.random.Generator, cfg: AugmentConfig | None) -> Geometry:
    """A random dihedral transform allowed by ``cfg`` (identity without a config)."""
    if cfg is None:
        return IDENTITY
    k = int(rng.integers(4)) if cfg.rot90 else 0
    hflip = bool(rng.random() < 0.5) if cfg.hflip else False
    vflip = bool(rng.random() < 0.5) if cfg.vflip else False
    return Geometry(k, hflip, vflip)


def apply_geometry(array: np.ndarray, geom: Geometry) -> np.ndarray:
    """Apply ``geom`` to the last two axes of ``array`` (image ``H x W`` or masks ``N x H x W``)."""
    out = np.rot90(array, geom.k, axes=(-2, -1)) if geom.k else array
    if geom.hflip:
        out = out[..., ::-1]
    if geom.vflip:
        out = out[..., ::-1, :]
    return np.ascontiguousarray(out)


def draw_window(rng: np.random.Generator | None, height: int, width: int,
                crop: tuple[int, int] | None) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a uniformly placed crop window; the whole image without a crop size.

    A window larger than the image starts at 0 (the caller pads the part outside).
    """
    if crop is None:
        return 0, 0, height, width
    h, w = crop
    top = int(rng.integers(height - h + 1)) if rng is not None and height > h else 0
    left = int(rng.integers(width - w + 1)) if rng is not None and width > w else 0
    return top, left, h, w


def jitter_intensity(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None) -> np.ndarray:
    """Brightness shift and contrast change (float32, clipped to 0..255); unchanged without a config."""
    image = image.astype(np.float32, copy=False)
    if cfg is None or (cfg.brightness == 0 and cfg.contrast == 0):
        return image
    gain = np.float32(1.0 + rng.uniform(-cfg.contrast, cfg.contrast))
    shift = np.float32(rng.uniform(-cfg.brightness, cfg.brightness))
    mean = np.float32(image.mean())
    return np.clip((image - mean) * gain + mean + shift, 0.0, 255.0).astype(np.float32)


def crop_size_pair(crop_size: int | tuple[int, int] | list | None) -> tuple[int, int] | None:
    """``256`` -> ``(256, 256)``; ``(h, w)`` as is; ``None`` stays ``None``."""
    if crop_size is None:
        return None
    if isinstance(crop_size, (int, np.integer)):
        pair = (int(crop_size), int(crop_size))
    else:
        pair = tuple(int(v) for v in crop_size)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"crop_size must be a positive int or (height, width), got {crop_size!r}")
    return pair  # type: ignore[return-value]
