"""Class 4 of issue #12: never out of step. Generators swap a staged folder in (an interrupt leaves the old
dataset or the new one), refuse foreign content without ``overwrite``, and atomic writes keep the umask."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from cellseg_nb.atomic import OUTPUT_MARKER, atomic_directory, atomic_write_text
from cellseg_nb.errors import OutputError


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_files_keep_the_umask(tmp_path, umask_002):
    path = atomic_write_text(tmp_path / "report.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o664          # what open() would give, not 0600
    os.chmod(path, 0o640)
    atomic_write_text(path, "{1}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640          # a replaced file keeps its mode


def test_staged_folder_gets_the_umask(tmp_path, umask_002):
    with atomic_directory(tmp_path / "out", "demo-data") as stage:
        (stage / "a.txt").write_text("a")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o775
    assert (tmp_path / "out" / OUTPUT_MARKER).is_file()


def test_atomic_directory_interrupted_keeps_the_old(tmp_path):
    dest = tmp_path / "data"
    with atomic_directory(dest, "demo-data") as stage:
        (stage / "old.txt").write_text("old")
    before = tree_digest(dest)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(dest, "demo-data") as stage:
            (stage / "new.txt").write_text("new")
            raise KeyboardInterrupt
    assert tree_digest(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]     # no staging folder left behind


def test_atomic_directory_refuses_foreign_content(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not empty"):
        with atomic_directory(dest, "synth"):
            pass
    with atomic_directory(dest, "synth", overwrite=True) as stage:
        (stage / "x").write_text("x")
    assert sorted(p.name for p in dest.iterdir()) == [OUTPUT_MARKER, "x"]
    # a folder another generator wrote is foreign too
    with pytest.raises(OutputError, match="not written by `cellseg-nb demo-data`"):
        with atomic_directory(dest, "demo-data"):
            pass


def test_demo_data_interrupted_rewrite_leaves_the_old_dataset(tmp_path, monkeypatch):
    """The issue's case: rewriting a demo dataset with another seed and interrupting it half-way."""
    import cellseg_nb.demo.generate as generate
    from cellseg_nb.data.coco import load_coco

    dest = tmp_path / "demo"
    generate.generate_demo_dataset(dest, images_per_type=1, seed=1, cell_types=["A172"])
    before = tree_digest(dest)
    real_write, calls = generate.write_image, []

    def interrupted(path, image):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(path, image)

    monkeypatch.setattr(generate, "write_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate.generate_demo_dataset(dest, images_per_type=1, seed=2, cell_types=["A172"])
    assert tree_digest(dest) == before
    assert not any(p.name.startswith(".demo.") for p in tmp_path.iterdir())
    monkeypatch.undo()
    # a completed rewrite replaces it whole: exactly what a fresh folder gets, nothing left of seed 1
    generate.generate_demo_dataset(dest, images_per_type=1, seed=2, cell_types=["A172"])
    fresh = generate.generate_demo_dataset(tmp_path / "fresh", images_per_type=1, seed=2, cell_types=["A172"])
    assert tree_digest(dest) == tree_digest(fresh) != before
    ann = dest / "annotations" / "LIVECell" / "livecell_coco_train.json"
    assert load_coco(ann).info["seed"] == 2


def test_synth_refuses_foreign_dest_and_replaces_its_own(tmp_path, demo_root):
    from cellseg_nb.synth import SynthConfig, generate_synthetic_dataset

    ann = demo_root / "annotations" / "LIVECell" / "livecell_coco_val.json"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2")
    config = SynthConfig(factor=1, cell_types=("A172",), link_originals=False)
    with pytest.raises(OutputError, match="not empty"):
        generate_synthetic_dataset(ann, demo_root / "images", foreign, config)
    assert (foreign / "data.csv").read_text() == "1,2"
    out = tmp_path / "synth"
    first = generate_synthetic_dataset(ann, demo_root / "images", out, config)
    again = generate_synthetic_dataset(ann, demo_root / "images", out, SynthConfig(
        factor=1, seed=5, cell_types=("A172",), link_originals=False))
    assert first.synthetic_json == again.synthetic_json and again.synthetic_json.is_file()
    with pytest.raises(OutputError, match="holds the source"):
        generate_synthetic_dataset(ann, demo_root / "images", demo_root, config, overwrite=True)


def test_outputs_from_before_the_marker_are_recognised(tmp_path):
    """A demo dataset written before output markers existed may be replaced (make demo re-runs) without --overwrite."""
    from cellseg_nb.demo import generate_demo_dataset

    dest = generate_demo_dataset(tmp_path / "demo", images_per_type=1, seed=1, cell_types=["A172"])
    (dest / OUTPUT_MARKER).unlink()
    generate_demo_dataset(dest, images_per_type=1, seed=2, cell_types=["A172"])
    assert (dest / OUTPUT_MARKER).is_file()
    (dest / OUTPUT_MARKER).unlink()
    (dest / "annotations" / "LIVECell" / "livecell_coco_train.json").write_text('{"info": {"contributor": "me"}}')
    with pytest.raises(OutputError, match="not empty"):
        generate_demo_dataset(dest, images_per_type=1, seed=2, cell_types=["A172"])
