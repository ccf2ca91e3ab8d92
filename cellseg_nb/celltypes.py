"""LIVECell cell lines and the metadata encoded in LIVECell file names.

The cell type exists only in the file name (the COCO json has a single category ``cell``), so every
per-cell-type table in the package goes through :func:`parse_file_name`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePath

#: Folder / file-name spelling, in the order the study's tables use.
CELL_TYPES: tuple[str, ...] = ("A172", "BT474", "BV2", "Huh7", "MCF7", "SHSY5Y", "SkBr3", "SKOV3")

#: Spelling used in papers and figures.
DISPLAY_NAMES: dict[str, str] = {
    "A172": "A172",
    "BT474": "BT-474",
    "BV2": "BV-2",
    "Huh7": "Huh7",
    "MCF7": "MCF7",
    "SHSY5Y": "SH-SY5Y",
    "SkBr3": "SkBr3",
    "SKOV3": "SK-OV-3",
}

_BY_LOWER = {name.lower(): name for name in CELL_TYPES}
_BY_LOWER.update({display.lower(): name for name, display in DISPLAY_NAMES.items()})

_FILE_NAME = re.compile(
    r"^(?P<cell_type>[A-Za-z0-9]+)_Phase_(?P<well>[A-Z]\d+)_(?P<location>\d+)_"
    r"(?P<days>\d+)d(?P<hours>\d+)h(?P<minutes>\d+)m_(?P<crop>\d+)"
    r"(?P<synthetic>_synth\d+)?$"
)


def canonical_cell_type(name: str) -> str:
    """Return the folder spelling of a cell type given any known spelling (case-insensitive).

    Raises ``KeyError`` naming the unknown value and the accepted ones.
    """
    try:
        return _BY_LOWER[name.strip().lower()]
    except KeyError:
        raise KeyError(f"unknown cell type {name!r}; expected one of {', '.join(CELL_TYPES)}") from None


def display_name(cell_type: str) -> str:
    """Paper spelling (``BT-474``) of a cell type given in any known spelling."""
    return DISPLAY_NAMES[canonical_cell_type(cell_type)]


@dataclass(frozen=True)
class ImageMeta:
    """What a LIVECell file name says about its image."""

    file_name: str
    cell_type: str
    well: str
    location: int
    elapsed_hours: float
    crop: int
    synthetic: bool = False

    @property
    def display_cell_type(self) -> str:
        return DISPLAY_NAMES[self.cell_type]

    def as_dict(self) -> dict:
        return asdict(self)


def parse_file_name(file_name: str) -> ImageMeta:
    """Parse ``A172_Phase_C7_1_02d16h00m_2.tif`` into cell type, well, location, elapsed hours and crop.

    Synthetic images written by :mod:`cellseg_nb.synth` carry a ``_synthNN`` suffix and parse with
    ``synthetic=True``. Raises ``ValueError`` naming the file when the name does not follow the pattern.
    """
    stem = PurePath(file_name).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    match = _FILE_NAME.match(stem)
    if match is None:
        raise ValueError(
            f"{file_name}: not a LIVECell file name "
            "(expected <CellType>_Phase_<Well>_<Location>_<DD>d<HH>h<MM>m_<Crop>.tif)"
        )
    try:
        cell_type = canonical_cell_type(match["cell_type"])
    except KeyError as exc:
        raise ValueError(f"{file_name}: {exc.args[0]}") from None
    hours = int(match["days"]) * 24 + int(match["hours"]) + int(match["minutes"]) / 60.0
    return ImageMeta(
        file_name=PurePath(file_name).name,
        cell_type=cell_type,
        well=match["well"],
        location=int(match["location"]),
        elapsed_hours=float(hours),
        crop=int(match["crop"]),
        synthetic=match["synthetic"] is not None,
    )


def format_file_name(cell_type: str, well: str, location: int, elapsed_hours: int, crop: int,
                     *, synthetic_index: int | None = None, suffix: str = ".tif") -> str:
    """Build a LIVECell file name (the inverse of :func:`parse_file_name`)."""
    cell_type = canonical_cell_type(cell_type)
    days, hours = divmod(int(elapsed_hours), 24)
    synth = "" if synthetic_index is None else f"_synth{synthetic_index:02d}"
    return f"{cell_type}_Phase_{well}_{location}_{days:02d}d{hours:02d}h00m_{crop}{synth}{suffix}"
