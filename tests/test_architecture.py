"""The package's layers: a module imports only from its own layer or lower ones (docs/architecture.md).

data < models < eval / synth / demo < train < pipeline < viz < commands; the foundation modules
(errors, atomic, celltypes, outputs) sit below everything and import nothing of the package but each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cellseg_nb"

#: Layer of each top-level module or subpackage of cellseg_nb (lower = more basic).
LAYERS = {
    "errors": 0, "atomic": 0, "celltypes": 0, "outputs": 0,
    "data": 1,
    "models": 2, "weights": 2,
    "eval": 3, "synth": 3, "demo": 3,
    "train": 4, "baseline": 4,
    "pipeline": 5,
    "viz": 6,
    "commands": 7, "cli": 7, "__init__": 7, "__main__": 7,
}


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute cellseg_nb module) of every package import in ``path``."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            targets = [name] if node.module or not node.level else [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, t) for t in targets if t.startswith("cellseg_nb.")]
    return found


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert tops <= set(LAYERS), f"add {sorted(tops - set(LAYERS))} to LAYERS and to docs/architecture.md"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _top(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, target in _imports(path):
            other = _top(target)
            if other not in LAYERS:  # an attribute of the package root, e.g. ``from .. import __version__``
                continue
            if LAYERS[other] > LAYERS[own]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {target} ({other})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)
