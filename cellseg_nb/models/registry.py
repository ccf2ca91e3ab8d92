"""Model registry: every family registers its names, constructor and target kind.

``build_model(name, **kwargs)`` builds any model by name (checkpoints store name + kwargs);
``target_kind(name)`` says whether it trains on semantic maps (U-Nets, ensemble) or instance targets
(CenterMask), so the training code never guesses from a name. A family module calls
:func:`register_family` at import; the registry imports the family modules the first time it is asked.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Literal

from torch import nn

from ..errors import ConfigError

TargetKind = Literal["semantic", "instance"]

#: Modules that register a family when imported (CenterMask imports timm, so it is loaded on demand).
FAMILY_MODULES = ("cellseg_nb.models.unet", "cellseg_nb.models.unet_timm", "cellseg_nb.models.ensemble",
                  "cellseg_nb.models.centermask")


@dataclass(frozen=True)
class ModelFamily:
    """Names of one family, what its models train on, ``build(name, **kwargs)`` and the kwargs it takes."""

    family: str
    names: tuple[str, ...]
    target: TargetKind
    build: Callable[..., nn.Module]
    kwargs: frozenset[str]


_FAMILIES: dict[str, ModelFamily] = {}


def keyword_names(*callables: Callable[..., Any]) -> frozenset[str]:
    """The keyword arguments that ``callables`` accept together (for a constructor that passes
    ``**kwargs`` on to its base class, list both)."""
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return frozenset(p.name for fn in callables for p in inspect.signature(fn).parameters.values()
                     if p.kind in kinds and p.name != "self")


def register_family(family: str, names: tuple[str, ...] | list[str], target: TargetKind,
                    build: Callable[..., nn.Module], kwargs: frozenset[str]) -> ModelFamily:
    """Register a family: ``build(name, **kw)`` builds one of ``names``; ``kw`` must be among ``kwargs``."""
    if target not in ("semantic", "instance"):
        raise ValueError(f"target must be 'semantic' or 'instance', got {target!r}")
    entry = ModelFamily(family, tuple(names), target, build, frozenset(kwargs))
    _FAMILIES[family] = entry
    return entry


def _families() -> list[ModelFamily]:
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    return list(_FAMILIES.values())


def model_names() -> list[str]:
    """Every name :func:`build_model` accepts."""
    return [name for fam in _families() for name in fam.names]


def family_of(name: str) -> ModelFamily:
    """The family that owns ``name``; ConfigError listing the known names otherwise."""
    for fam in _families():
        if name in fam.names:
            return fam
    raise ConfigError(f"model.name: unknown model {name!r}; choose from {model_names()}")


def target_kind(name: str) -> TargetKind:
    """``semantic`` (three-class pixel maps) or ``instance`` (boxes + masks) targets for training ``name``."""
    return family_of(name).target


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by registry name; ``kwargs`` are the family's constructor arguments (an unknown one
    is a ConfigError naming it and the known ones)."""
    fam = family_of(name)
    unknown = sorted(set(kwargs) - fam.kwargs)
    if unknown:
        raise ConfigError(f"model.kwargs: {name!r} takes no {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(fam.kwargs))})")
    return fam.build(name, **kwargs)
