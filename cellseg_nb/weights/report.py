"""What a weights load did (:class:`LoadReport`) and the error every weights problem raises (:class:`WeightsError`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import DataError

#: How many key names an error message or a summary lists before "...".
FIRST_NAMES = 5


class WeightsError(DataError):
    """A weights file that cannot be read, is of an unknown format, or does not fit the model; names the file."""


def name_list(names: Sequence[str], first: int = FIRST_NAMES) -> str:
    """``"3 (a, b, c)"`` or ``"12 (a, b, c, d, e, ...)"``: a count and the first few names."""
    shown = ", ".join(names[:first]) + (", ..." if len(names) > first else "")
    return f"{len(names)} ({shown})" if names else "0"


@dataclass
class LoadReport:
    """What :func:`~cellseg_nb.weights.init_weights` / :func:`~cellseg_nb.weights.load_model` loaded.

    Keys are the model's own names (``backbone.body.stem_0.conv.weight``). ``missing`` / ``shape_mismatch``
    are keys the caller allowed to differ: they keep the model's own initialisation; ``reinitialised``
    names the class-specific modules re-initialised for another number of classes; ``ignored`` are file
    entries that are not weights of this model by design (an ImageNet classifier, ``pixel_mean``);
    ``unexpected`` are file keys the caller allowed to be left out.
    """

    source: str
    format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    pixel_mean: list[float] | None = None
    pixel_std: list[float] | None = None
    model_name: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    def covers(self, prefix: str) -> bool:
        """True when at least one key under ``prefix`` (e.g. ``"backbone."``) came from the file."""
        return any(key.startswith(prefix) for key in self.loaded)

    def summary(self) -> str:
        """One line: the file, its format and the counts."""
        text = (f"{Path(self.source).name} ({self.format}): loaded {len(self.loaded)} tensors"
                f"{' into ' + self.scope.rstrip('.') if self.scope else ''}")
        for label, names in (("missing (kept their initialisation)", self.missing),
                             ("unexpected (left out)", self.unexpected),
                             ("of another shape (kept their initialisation)", self.shape_mismatch),
                             ("re-initialised", self.reinitialised), ("ignored", self.ignored)):
            if names:
                text += f"; {label} {name_list(names)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Counts, for logs and run records: source, format, loaded, missing, unexpected, shape_mismatch,
        reinitialised, ignored."""
        return {"source": self.source, "format": self.format, "loaded": len(self.loaded),
                "missing": len(self.missing), "unexpected": len(self.unexpected),
                "shape_mismatch": len(self.shape_mismatch), "reinitialised": len(self.reinitialised),
                "ignored": len(self.ignored)}
