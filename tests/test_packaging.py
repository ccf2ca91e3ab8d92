"""The install files agree with each other and the command line is wired up."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

from conftest import REPO

#: conda-forge names that differ from the PyPI distribution names.
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + list(meta["optional-dependencies"]["test"])
    return {_name(r) for r in reqs}


def _environment_names() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-")}
        else:
            name = _name(dep)
            if name not in ("python", "pip"):
                names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_yml_names_the_same_packages_as_pyproject() -> None:
    assert _environment_names() == _pyproject_names()


def test_environment_yml_installs_the_package_and_uses_conda_forge() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_constraints_pin_the_cached_torch_pair() -> None:
    pins = {_name(line): line.strip() for line in (REPO / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    assert pins["torch"] == "torch==2.14.1"
    assert pins["torchvision"] == "torchvision==0.29.1"


def test_cli_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "cellseg_nb.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    from cellseg_nb.cli import COMMANDS

    for command in COMMANDS:
        assert command.replace("_", "-") in out


def test_each_subcommand_has_help() -> None:
    from cellseg_nb.cli import COMMANDS

    for command in COMMANDS:
        proc = subprocess.run([sys.executable, "-m", "cellseg_nb.cli", command.replace("_", "-"), "--help"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "usage: cellseg-nb" in proc.stdout
