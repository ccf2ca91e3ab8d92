"""Class 3: output paths checked before work starts (cellseg_nb.outputs, cellseg_nb.commands.arguments)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from cellseg_nb.commands import arguments as A
from cellseg_nb.errors import OutputError
from cellseg_nb.outputs import check_output_dir, check_output_file, contained_child


def test_output_file_kinds(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_output_file(tmp_path / "new.csv", "--per-image") == tmp_path / "new.csv"
    assert check_output_file(tmp_path / "f", "--out") == tmp_path / "f"  # replacing a file is fine
    assert check_output_file(tmp_path / "a" / "b" / "c.json", "--out") == tmp_path / "a" / "b" / "c.json"
    with pytest.raises(OutputError, match=r"--per-image .*: is a folder"):
        check_output_file(tmp_path, "--per-image")
    with pytest.raises(OutputError, match=r"--out .*f/x.json: .*is a file, not a folder"):
        check_output_file(tmp_path / "f" / "x.json", "--out")


def test_output_dir_kinds(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper", "--dest") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path, "--dest") == tmp_path
    with pytest.raises(OutputError, match=r"--dest .*: exists and is not a folder"):
        check_output_dir(tmp_path / "f", "--dest")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f" / "sub", "--dest")
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_unwritable_folder(tmp_path, monkeypatch):
    """A folder the process may not write (read-only mount, foreign owner) is refused before any work.
    os.access is replaced so the case is the same for root, which may write anywhere on a normal disk."""
    import cellseg_nb.outputs as outputs

    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.json").write_text("{}")
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    with pytest.raises(OutputError, match=r"--out .*ro/x\.json: folder .*ro is not writable"):
        check_output_file(ro / "x.json", "--out")
    with pytest.raises(OutputError, match="not writable"):
        check_output_file(ro / "old.json", "--out")
    with pytest.raises(OutputError, match="--dest .*: folder is not writable"):
        check_output_dir(ro, "--dest")
    with pytest.raises(OutputError, match="not writable"):
        check_output_dir(ro / "new" / "deeper", "--dest")


@pytest.mark.parametrize("name", ["../x", "../../elsewhere", "a/../../b", "/abs/path", "", ".", "..", "a\x00b"])
def test_contained_child_refuses_escapes(tmp_path, name):
    with pytest.raises(OutputError):
        contained_child(tmp_path / "runs", name, "run name")


def test_contained_child_refuses_symlink_escape(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(OutputError, match="outside"):
        contained_child(root, "link/x", "run name")
    assert contained_child(root, "demo", "run name") == root / "demo"
    assert contained_child(root, "2026/demo", "run name") == root / "2026" / "demo"


@pytest.mark.parametrize("helper, good, bad", [
    (A.probability, [("0", 0.0), ("1", 1.0), ("0.25", 0.25)], ["2", "-0.1", "nan", "inf", "x"]),
    (A.positive_int, [("1", 1), ("12", 12)], ["0", "-3", "1.5", "x"]),
    (A.non_negative_int, [("0", 0)], ["-1", "x"]),
    (A.positive_float, [("0.5", 0.5)], ["0", "-1", "inf", "nan"]),
    (A.seed, [("0", 0), (str(2**32 - 1), 2**32 - 1)], ["-1", str(2**32)]),
])
def test_argument_types(helper, good, bad):
    for text, value in good:
        assert helper(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            helper(text)


def test_number_pair_and_paths(tmp_path):
    pair = A.number_pair(A.probability)
    assert pair("0.2,0.5") == (0.2, 0.5)
    for text in ("0.5", "0.6,0.2", "0.2,1.5", "a,b"):
        with pytest.raises(argparse.ArgumentTypeError):
            pair(text)
    (tmp_path / "f").write_text("x")
    assert A.existing_file(str(tmp_path / "f")) == tmp_path / "f"
    with pytest.raises(argparse.ArgumentTypeError, match="is not a file"):
        A.existing_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="no such file"):
        A.existing_file(str(tmp_path / "missing"))
    with pytest.raises(argparse.ArgumentTypeError, match="is not a folder"):
        A.existing_dir(str(tmp_path / "f"))
