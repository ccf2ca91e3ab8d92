"""The notebook pipeline on tiny throwaway notebooks made in tmp_path (independent of the real notebooks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from cellseg_nb.cli import main
from cellseg_nb.errors import ConfigError
from cellseg_nb.pipeline import (NotebookFailed, config_from_dict, load_run_config, read_status, run_pipeline)
from cellseg_nb.pipeline.kernel import _runs_this_interpreter


def make_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """A notebook whose first code cell is tagged ``parameters``, then the given code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}"))
    nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


PRODUCER = (
    "import pandas as pd\nfrom cellseg_nb.pipeline import RunArtifacts\nart = RunArtifacts(run_dir, 'a_make')",
    "table = pd.DataFrame({'model': ['m1', 'm2'], 'score': [seed * 1.5, seed + 0.25]})\n"
    "art.save_table('scores', table, title='Headline scores', caption='two models')",
    "print('SECRET_CODE_MARKER' if False else 'visible output line')",
)
CONSUMER = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "from cellseg_nb.pipeline import RunArtifacts\nart = RunArtifacts(run_dir, 'b_use')",
    "scores = art.load_table('scores', notebook='a_make')\n"
    "fig, ax = plt.subplots(figsize=(2, 2))\nax.bar(scores['model'], scores['score'] * factor)\n"
    "png = art.save_figure('bars', fig, title='Scaled scores')\n"
    "art.save_table('scaled', scores.assign(scaled=scores['score'] * factor), title='Scaled')",
    "from IPython.display import Image\nImage(filename=str(png))",
)


def make_config(tmp_path: Path, *, seed: int = 2, factor: float = 10.0, extra: dict | None = None):
    nb_dir = tmp_path / "nbs"
    make_notebook(nb_dir / "a_make.ipynb", "run_dir = 'x'\nseed = 0", *PRODUCER)
    make_notebook(nb_dir / "b_use.ipynb", "run_dir = 'x'\nfactor = 1.0", *CONSUMER)
    (tmp_path / "data" / "annotations").mkdir(parents=True, exist_ok=True)
    data = {"name": "tiny", "data_root": str(tmp_path / "data"), "seed": seed, "notebooks_dir": str(nb_dir),
            "runs_dir": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
            "notebooks": {"a_make": {}, "b_use": {"factor": factor}}}
    data.update(extra or {})
    return config_from_dict(data, source="tiny.yaml")


@pytest.mark.slow
def test_run_executes_in_order_and_writes_reports_and_index(tmp_path):
    config = make_config(tmp_path)
    messages = []
    results = run_pipeline(config, progress=False, say=messages.append)
    assert [r.name for r in results] == ["a_make", "b_use"]
    run_dir, report_dir = tmp_path / "runs" / "tiny", tmp_path / "reports" / "tiny"
    executed = nbformat.read(str(run_dir / "a_make.ipynb"), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "seed = 2" in injected[0].source
    assert executed.metadata["kernelspec"]["name"]
    full = (report_dir / "a_make.html").read_text()
    clean = (report_dir / "a_make.clean.html").read_text()
    assert "SECRET_CODE_MARKER" in full and "SECRET_CODE_MARKER" not in clean
    assert "visible output line" in full and "visible output line" in clean
    index = (report_dir / "index.html").read_text()
    # seed 2 -> scores 3.0 and 2.25; b_use scales them by 10 -> 30 and 22.5
    assert "Headline scores" in index and "<td>3</td>" in index and "<td>2.250</td>" in index
    assert "<td>22.500</td>" in index and "data:image/png;base64," in index
    assert 'href="a_make.html"' in index and 'href="b_use.clean.html"' in index
    assert {k: v["status"] for k, v in read_status(run_dir).items()} == {"a_make": "ok", "b_use": "ok"}
    assert any("[2/2] b_use: ok" in m for m in messages)
    assert not list(run_dir.glob(".*running*"))


@pytest.mark.slow
def test_failing_notebook_stops_run_names_cell_and_keeps_copy(tmp_path):
    config = make_config(tmp_path)
    make_notebook(tmp_path / "nbs" / "a_make.ipynb", "run_dir = 'x'\nseed = 0",
                  "x = 1", "values = [1, 2]\nvalues[5]  # deliberately out of range", "print('never')")
    with pytest.raises(NotebookFailed) as info:
        run_pipeline(config, progress=False, say=lambda m: None)
    err = info.value
    assert err.notebook == "a_make" and "IndexError" in err.error
    assert "values = [1, 2]" in err.cell and "cell " in err.cell
    kept = nbformat.read(str(tmp_path / "runs" / "tiny" / "a_make.ipynb"), as_version=4)
    assert any(o.get("ename") == "IndexError" for c in kept.cells if c.cell_type == "code" for o in c.outputs)
    assert not (tmp_path / "runs" / "tiny" / "b_use.ipynb").exists()  # the run stopped
    status = read_status(tmp_path / "runs" / "tiny")
    assert status["a_make"]["status"] == "failed" and "b_use" not in status
    index = (tmp_path / "reports" / "tiny" / "index.html").read_text()
    assert "failed" in index and "IndexError" in index


@pytest.mark.slow
def test_cli_exit_code_and_message_name_failing_notebook(tmp_path, capsys, monkeypatch):
    make_notebook(tmp_path / "nbs" / "only.ipynb", "seed = 0", "raise RuntimeError(f'bad seed {seed}')")
    cfg = tmp_path / "run.yaml"
    (tmp_path / "data" / "annotations").mkdir(parents=True)
    cfg.write_text(json.dumps({"name": "cli", "data_root": str(tmp_path / "data"), "notebooks_dir": str(tmp_path / "nbs"),
                               "runs_dir": str(tmp_path / "runs"), "reports_dir": str(tmp_path / "reports"),
                               "notebooks": {"only": {}}}))
    code = main(["run", "--config", str(cfg), "--seed", "7", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "notebook only failed" in err and "raise RuntimeError" in err and "bad seed 7" in err
    assert (tmp_path / "runs" / "cli" / "only.ipynb").is_file()


@pytest.mark.slow
def test_only_reruns_subset_and_reuses_earlier_artifacts(tmp_path):
    run_pipeline(make_config(tmp_path, factor=10.0), progress=False, say=lambda m: None)
    first = tmp_path / "runs" / "tiny" / "a_make.ipynb"
    before = first.stat().st_mtime_ns
    results = run_pipeline(make_config(tmp_path, factor=100.0), ["b"], progress=False, say=lambda m: None)
    assert [r.name for r in results] == ["b_use"]
    assert first.stat().st_mtime_ns == before  # a_make was not executed again
    index = (tmp_path / "reports" / "tiny" / "index.html").read_text()
    assert "<td>300</td>" in index and "<td>225</td>" in index  # b_use read a_make's table, new factor
    assert "<td>30</td>" not in index.split('id="b_use"')[1]
    assert "Headline scores" in index  # a_make's artifacts still shown


def test_unknown_parameter_and_bad_selection_are_config_errors(tmp_path):
    config = make_config(tmp_path, extra={"notebooks": {"a_make": {"sed": 3}}})
    with pytest.raises(ConfigError, match="unknown parameter.*sed.*declares run_dir, seed"):
        run_pipeline(config, progress=False, say=lambda m: None)
    with pytest.raises(ConfigError, match="has no annotations/ folder"):
        run_pipeline(make_config(tmp_path, extra={"data_root": str(tmp_path / "nowhere")}), say=lambda m: None)
    with pytest.raises(ConfigError, match="--only '09' matches no notebook"):
        make_config(tmp_path).select(["09"])
    assert [s.name for s in make_config(tmp_path).select(["b", "a"])] == ["a_make", "b_use"]


@pytest.mark.parametrize("data, problem", [
    ({"data_root": "d", "notebooks": {"a": {}}}, "missing required key 'name'"),
    ({"name": "x", "data_root": "d", "notebooks": {}}, "lists no notebook"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": {}}, "seed": "one"}, "seed must be a whole number >= 0"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": {}}, "seed": -3}, "seed must be a whole number >= 0"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": {"score_threshold": 2}}},
     r"notebooks.a: score_threshold must be in \[0, 1\]"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": {"score_threshold": {"unet": -0.1}}}},
     "score_threshold must be in"),
    ({"name": "x", "data_root": "d", "common": {"max_eval_images": -1}, "notebooks": {"a": {}}},
     "common: max_eval_images must be a whole number >= 0"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": [1]}}, "notebooks.a must be a mapping"),
    ({"name": "x", "data_root": "d", "notebooks": {"a": {}}, "epochs": 3}, "unknown key.*epochs"),
    ({"name": "../x", "data_root": "d", "notebooks": {"a": {}}}, "plain folder name"),
])
def test_config_validation_names_the_problem(data, problem):
    with pytest.raises(ConfigError, match=problem):
        config_from_dict(data, source="cfg.yaml")


def test_load_run_config_reads_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: r\ndata_root: data/demo\nseed: 3\ncommon: {max_images: 4}\n"
                    "notebooks:\n  01_x:\n  02_y: {epochs: 2}\n")
    config = load_run_config(path)
    assert [s.name for s in config.notebooks] == ["01_x", "02_y"]
    assert config.notebooks[1].parameters == {"epochs": 2} and config.seed == 3
    assert config.run_dir == Path("runs/r") and config.base_parameters()["max_images"] == 4
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")


def test_kernel_check_recognises_this_interpreter():
    assert _runs_this_interpreter(["python", "-m", "ipykernel_launcher"])
    assert _runs_this_interpreter([sys.executable, "-m", "ipykernel_launcher"])
    assert not _runs_this_interpreter(["/usr/bin/false", "-m", "ipykernel_launcher"])


def test_kernel_installed_when_python3_points_elsewhere(tmp_path, monkeypatch):
    """A user-level python3 kernelspec for another Python must not be used: a spec for this one is installed."""
    import json as _json

    from cellseg_nb.pipeline.kernel import FALLBACK_KERNEL, ensure_python_kernel

    foreign = tmp_path / "user" / "kernels" / "python3"
    foreign.mkdir(parents=True)
    (foreign / "kernel.json").write_text(_json.dumps(
        {"argv": ["/usr/bin/false", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "other", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "user"))
    prefix = tmp_path / "prefix"
    assert ensure_python_kernel(prefix=str(prefix)) == FALLBACK_KERNEL
    spec = _json.loads((prefix / "share" / "jupyter" / "kernels" / FALLBACK_KERNEL / "kernel.json").read_text())
    assert _runs_this_interpreter(spec["argv"])
    monkeypatch.delenv("JUPYTER_PATH")
    assert ensure_python_kernel() == "python3"  # the venv's own spec runs this interpreter


@pytest.mark.slow
def test_demo_data_is_built_when_missing(tmp_path, monkeypatch):
    """A config with demo_data builds the dataset into a missing data root, with the run's seed."""
    calls = []

    def fake_generate(dest, images_per_type, seed):
        calls.append((Path(dest), images_per_type, seed))
        (Path(dest) / "annotations").mkdir(parents=True)

    import cellseg_nb.demo

    monkeypatch.setattr(cellseg_nb.demo, "generate_demo_dataset", fake_generate)
    config = make_config(tmp_path, seed=5, extra={"data_root": str(tmp_path / "fresh"),
                                                  "demo_data": {"images_per_type": 3}})
    run_pipeline(config, ["a"], progress=False, say=lambda m: None)
    assert calls == [(tmp_path / "fresh", 3, 5)]
