"""Reading and writing LIVECell images: one-channel uint8, LZW TIFF (or PNG).

LIVECell images are 704x520 uint8 phase-contrast TIFFs with LZW compression. Pillow decodes LZW without
extra codecs (``tifffile`` needs ``imagecodecs``). Anything else (16-bit, float, RGB, a wrong size) is an
error that names the file, unless the caller asks for a conversion: silently feeding a 16-bit or RGB
image to a model trained on LIVECell gives nonsense predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..atomic import atomic_path
from ..errors import DataError


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Map another dtype onto 0..255: integer types by their full range, floats by their own range."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        scaled = (array.astype(np.float64) - info.min) * (255.0 / (info.max - info.min))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    values = array.astype(np.float64)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    elif lo >= 0.0 and hi <= 255.0:
        lo, hi = 0.0, 255.0
    scaled = (np.nan_to_num(values, nan=lo) - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def read_image(path: str | Path, *, convert: bool = False, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as a uint8 ``H x W`` array.

    ``convert=True`` turns RGB/RGBA into luminance and other dtypes into uint8 (integers by their dtype's
    range, floats in [0, 1] or [0, 255] as such, other floats by their min/max) instead of raising.
    ``expected_size`` is ``(width, height)`` as in a COCO image record; a mismatch is always an error.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("RGB", "RGBA", "LA", "P", "CMYK", "YCbCr"):
                if not convert:
                    raise DataError(f"image has mode {mode} ({len(im.getbands())} channels); expected one channel "
                                    "(pass convert=True to turn it into grayscale)", file=path)
                array = np.asarray(im.convert("L"))
            else:
                array = np.asarray(im)
    except FileNotFoundError:
        raise DataError("image file not found", file=path) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot decode image ({exc})", file=path) from None
    if array.ndim == 3:
        if not convert:
            raise DataError(f"image has {array.shape[2]} channels; expected one", file=path)
        array = array[..., :3].mean(axis=2) if array.shape[2] >= 3 else array[..., 0]
    if array.ndim != 2:
        raise DataError(f"image has shape {array.shape}; expected H x W", file=path)
    if array.dtype != np.uint8:
        if not convert:
            raise DataError(f"image has dtype {array.dtype}; expected uint8 (pass convert=True to rescale)",
                            file=path)
        array = _to_uint8(array)
    if expected_size is not None:
        width, height = int(expected_size[0]), int(expected_size[1])
        if array.shape != (height, width):
            raise DataError(f"image is {array.shape[1]}x{array.shape[0]} (WxH); its record says {width}x{height}",
                            file=path)
    return np.ascontiguousarray(array)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 ``H x W`` image atomically: LZW TIFF for ``.tif``/``.tiff`` (as LIVECell), else by suffix."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"{path}: expected a uint8 H x W image, got {image.dtype} {image.shape}")
    path = Path(path)
    with atomic_path(path) as tmp:
        pil = Image.fromarray(image)
        if path.suffix.lower() in (".tif", ".tiff"):
            pil.save(tmp, format="TIFF", compression="tiff_lzw")
        else:
            pil.save(tmp)
    return path
