"""Reading and writing LIVECell images: one-channel uint8, LZW TIFF (or PNG).

LIVECell images are 704x520 uint8 phase-contrast TIFFs with LZW compression. Pillow decodes LZW without
extra codecs (``tifffile`` needs ``imagecodecs``). Anything else (16-bit, float, RGB, a wrong size) is an
error that names the file, unless the caller asks for a conversion: silently feeding a 16-bit or RGB
image to a model trained on LIVECell gives nonsense predictions.

The conversion rule (``convert=True`` in Python, ``--convert`` on the commands that read images):

* RGB, RGBA, palette, CMYK and other colour modes become one channel by Pillow's luminance
  ``L = 0.299 R + 0.587 G + 0.114 B`` (alpha dropped);
* other integer types are mapped linearly from their type's full range onto 0..255 (16-bit: ``v / 257``),
  the same for every image, so intensities stay comparable across a set (no per-image stretch);
* floats in [0, 1] or [0, 255] are scaled as such; other floats by the image's own finite min/max;
  NaN becomes the minimum.

A command's ``--convert`` sets :func:`image_conversion` for the whole run (an environment variable, so
data-loader worker processes follow it); ``read_image(convert=None)`` reads that setting.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..atomic import atomic_path
from ..errors import DataError

#: Environment variable behind :func:`image_conversion` ("1": convert, anything else: refuse).
CONVERT_ENV = "CELLSEG_NB_CONVERT_IMAGES"
_HOW_TO_CONVERT = "pass --convert on the command line, or convert=True in Python"


@contextlib.contextmanager
def image_conversion(enabled: bool) -> Iterator[None]:
    """Within the block, ``read_image(convert=None)`` converts RGB / 16-bit / float images (see above)."""
    before = os.environ.get(CONVERT_ENV)
    os.environ[CONVERT_ENV] = "1" if enabled else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CONVERT_ENV, None)
        else:
            os.environ[CONVERT_ENV] = before


def conversion_enabled() -> bool:
    """Whether :func:`image_conversion` is on for this process (inherited by its child processes)."""
    return os.environ.get(CONVERT_ENV) == "1"


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


def _decode(path: Path, convert: bool) -> np.ndarray:
    """Pillow's decoding; colour modes become luminance only with ``convert`` (else a DataError)."""
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode in ("RGB", "RGBA", "LA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
            if not convert:
                raise DataError(f"image has mode {mode} ({len(im.getbands())} channels); expected one channel "
                                f"({_HOW_TO_CONVERT} to turn it into grayscale by luminance)", file=path)
            return np.asarray(im.convert("L"))
        return np.asarray(im)


def read_image(path: str | Path, *, convert: bool | None = None,
               expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image as a uint8 ``H x W`` array.

    ``convert=True`` turns colour images and other dtypes into uint8 grayscale by the rule in the module
    docstring instead of raising; ``None`` (the default) follows :func:`image_conversion`.
    ``expected_size`` is ``(width, height)`` as in a COCO image record; a mismatch is always an error.
    Missing, unreadable, undecodable and oversized (decompression-bomb) files are a
    :class:`~cellseg_nb.errors.DataError` naming the file.
    """
    path = Path(path)
    convert = conversion_enabled() if convert is None else bool(convert)
    try:
        with warnings.catch_warnings():
            # Pillow warns about damaged metadata before failing or decoding anyway; the error says it all
            warnings.simplefilter("ignore", UserWarning)
            array = _decode(path, convert)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("image file not found", file=path) from None
    except IsADirectoryError:
        raise DataError("is a folder, not an image file", file=path) from None
    except PermissionError:
        raise DataError("image file is not readable (permission denied)", file=path) from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"image too large to decode safely ({exc})", file=path) from None
    except MemoryError:
        raise DataError("image too large to decode in memory", file=path) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        # Pillow's decoders raise any of these on corrupt or truncated files
        raise DataError(f"cannot decode image ({type(exc).__name__}: {exc})", file=path) from None
    if array.ndim == 3:
        if not convert:
            raise DataError(f"image has {array.shape[2]} channels; expected one ({_HOW_TO_CONVERT})", file=path)
        array = array[..., :3].mean(axis=2) if array.shape[2] >= 3 else array[..., 0]
    if array.ndim != 2:
        raise DataError(f"image has shape {array.shape}; expected H x W", file=path)
    if array.dtype != np.uint8:
        if not convert:
            raise DataError(f"image has dtype {array.dtype}; expected uint8 ({_HOW_TO_CONVERT} to rescale "
                            "it to 0..255)", file=path)
        array = _to_uint8(array)
    if expected_size is not None:
        width, height = int(expected_size[0]), int(expected_size[1])
        if array.shape != (height, width):
            raise DataError(f"image is {array.shape[1]}x{array.shape[0]} (WxH); its record says {width}x{height}",
                            file=path)
    return np.ascontiguousarray(array)


def write_image(path: str | Path, image: np.ndarray, *, compression: str = "tiff_lzw") -> Path:
    """Write a uint8 (micrograph) or uint16 (label image) ``H x W`` array atomically: a TIFF with
    ``compression`` for ``.tif``/``.tiff`` (LZW, as LIVECell), else by suffix."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: expected a uint8 or uint16 H x W image, got {image.dtype} {image.shape}")
    path = Path(path)
    with atomic_path(path) as tmp:
        pil = Image.fromarray(image)
        if path.suffix.lower() in (".tif", ".tiff"):
            pil.save(tmp, format="TIFF", compression=compression)
        else:
            pil.save(tmp)
    return path
