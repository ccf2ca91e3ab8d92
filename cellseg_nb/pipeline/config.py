"""The run configuration of ``cellseg-nb run``: which notebooks run, in which order, with which parameters.

A run config is a small YAML file::

    name: demo                  # runs/<name>/ and reports/<name>/
    data_root: data/demo        # LIVECell layout (images/ and annotations/LIVECell/)
    seed: 0
    device: cpu
    demo_data: {images_per_type: 4}   # optional: build the demo dataset into data_root when it is missing
    common: {max_images: 40}          # optional: passed to every notebook that declares them
    notebooks:                        # run in this order; keys are notebook file stems
      01_explore_data: {}
      03_train_unet: {epochs: 2}
    lanes:                            # optional: these run side by side first (each lane in order),
      - [01_explore_data]             # every other notebook after them, in the order above
      - [03_train_unet]

Relative paths are taken from the directory ``cellseg-nb run`` is started in (the repository root for
``make demo``), not from the config file's folder, so the same config works from the command line and CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

_KNOWN_KEYS = {"name", "data_root", "seed", "device", "notebooks_dir", "runs_dir", "reports_dir",
               "demo_data", "common", "notebooks", "cell_timeout_s", "description", "lanes"}


@dataclass(frozen=True)
class NotebookStep:
    """One notebook of the run: its file stem (``03_train_unet``) and its own parameters."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``cellseg-nb run`` needs; see the module docstring for the YAML form."""

    name: str
    data_root: Path
    notebooks: tuple[NotebookStep, ...]
    seed: int = 0
    device: str = "cpu"
    notebooks_dir: Path = Path("notebooks")
    runs_dir: Path = Path("runs")
    reports_dir: Path = Path("reports")
    demo_data: dict[str, Any] | None = None
    common: dict[str, Any] = field(default_factory=dict)
    cell_timeout_s: int | None = None
    description: str = ""
    source: Path | None = None
    #: notebooks that run side by side (one lane per process, each in order) before all the others
    lanes: tuple[tuple[str, ...], ...] = ()

    @property
    def run_dir(self) -> Path:
        """Executed notebooks and artifacts: ``<runs_dir>/<name>``."""
        return self.runs_dir / self.name

    @property
    def report_dir(self) -> Path:
        """HTML exports and ``index.html``: ``<reports_dir>/<name>``."""
        return self.reports_dir / self.name

    def base_parameters(self) -> dict[str, Any]:
        """Parameters every notebook may declare: run folder, data root, seed, device and ``common``."""
        params = {"run_dir": str(self.run_dir.resolve()), "data_root": str(self.data_root.resolve()),
                  "seed": self.seed, "device": self.device}
        params.update(self.common)
        return params

    def with_overrides(self, **changes: Any) -> "RunConfig":
        """A copy with some fields replaced (``None`` values are ignored); used by CLI flags and tests."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def select(self, only: list[str] | None) -> list[NotebookStep]:
        """The steps to execute: all, or those whose name equals or starts with an ``only`` entry (``03``)."""
        if not only:
            return list(self.notebooks)
        chosen = []
        for token in only:
            hits = [s for s in self.notebooks if s.name.startswith(token)]
            if not hits:
                names = ", ".join(s.name for s in self.notebooks)
                raise ConfigError(f"--only {token!r} matches no notebook of run {self.name!r}; notebooks: {names}")
            chosen.extend(h for h in hits if h not in chosen)
        return [s for s in self.notebooks if s in chosen]


#: Notebook parameters that count things: whole numbers >= 0 (0 = all / none).
_COUNTS = ("max_images", "max_eval_images", "worst_n", "images_per_type", "n_images")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


def check_parameter(where: str, key: str, value: Any) -> None:
    """Range of the notebook parameters every notebook shares the meaning of: thresholds (a number, or a
    mapping of model -> number) in [0, 1], counts and seeds whole numbers >= 0."""
    if key.endswith("threshold"):
        values = value.values() if isinstance(value, dict) else [value]
        if not all(_is_number(v) and 0 <= v <= 1 for v in values):
            raise ConfigError(f"{where}: {key} must be in [0, 1] (or a mapping of model to such a number), "
                              f"got {value!r}")
    elif key in _COUNTS or key == "seed":
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise ConfigError(f"{where}: {key} must be a whole number >= 0, got {value!r}")


def _require(data: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def config_from_dict(data: Any, *, source: str | Path | None = None) -> RunConfig:
    """Validate a parsed YAML mapping into a :class:`RunConfig`; errors name the file and the key."""
    where = str(source) if source is not None else "<run config>"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a run config must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_KEYS))}")
    name = _require(data, "name", str, where)
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"{where}: 'name' must be a plain folder name, got {name!r}")
    notebooks = _require(data, "notebooks", dict, where)
    if not notebooks:
        raise ConfigError(f"{where}: 'notebooks' lists no notebook")
    steps = []
    for stem, params in notebooks.items():
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: notebooks.{stem} must be a mapping of parameters, got {params!r}")
        for key, value in params.items():
            check_parameter(f"{where}: notebooks.{stem}", str(key), value)
        steps.append(NotebookStep(str(stem), dict(params)))
    seed = data.get("seed", 0)
    check_parameter(where, "seed", seed)
    common = data.get("common") or {}
    if not isinstance(common, dict):
        raise ConfigError(f"{where}: 'common' must be a mapping, got {common!r}")
    for key, value in common.items():
        check_parameter(f"{where}: common", str(key), value)
    demo = data.get("demo_data")
    if demo is not None and not isinstance(demo, dict):
        raise ConfigError(f"{where}: 'demo_data' must be a mapping such as {{images_per_type: 4}}, got {demo!r}")
    timeout = data.get("cell_timeout_s")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise ConfigError(f"{where}: 'cell_timeout_s' must be a positive integer, got {timeout!r}")
    lanes = _lanes(data.get("lanes"), [s.name for s in steps], where)
    return RunConfig(
        name=name,
        data_root=Path(str(_require(data, "data_root", (str, Path), where))),
        notebooks=tuple(steps),
        seed=seed,
        device=str(data.get("device", "cpu")),
        notebooks_dir=Path(str(data.get("notebooks_dir", "notebooks"))),
        runs_dir=Path(str(data.get("runs_dir", "runs"))),
        reports_dir=Path(str(data.get("reports_dir", "reports"))),
        demo_data=demo,
        common=dict(common),
        cell_timeout_s=timeout,
        description=str(data.get("description", "")),
        source=None if source is None else Path(source),
        lanes=lanes,
    )


def _lanes(value: Any, names: list[str], where: str) -> tuple[tuple[str, ...], ...]:
    """``lanes``: a list of at least two lists of notebook stems of ``notebooks``, none named twice."""
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) < 2
            or not all(isinstance(lane, list) and lane and all(isinstance(n, str) for n in lane) for lane in value)):
        raise ConfigError(f"{where}: 'lanes' must be a list of at least two non-empty lists of notebook names, "
                          f"got {value!r}")
    seen: set[str] = set()
    for lane in value:
        for name in lane:
            if name not in names:
                raise ConfigError(f"{where}: lanes: {name!r} is not a notebook of this run ({', '.join(names)})")
            if name in seen:
                raise ConfigError(f"{where}: lanes: {name!r} is in more than one place")
            seen.add(name)
    return tuple(tuple(sorted(lane, key=names.index)) for lane in value)


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run config YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: run config not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return config_from_dict(data, source=path)
