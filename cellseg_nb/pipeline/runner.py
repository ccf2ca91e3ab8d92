"""Execute the run's notebooks in order with papermill, export them to HTML and rebuild the report index.

A failing notebook stops the run: its executed copy (with the traceback in the failing cell) is kept in
``runs/<name>/``, its HTML report and the index are still written, and :class:`NotebookFailed` names the
notebook and the cell. ``only`` re-executes a subset and reuses every other notebook's artifacts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write_json
from ..errors import CellsegError, ConfigError
from .artifacts import RunArtifacts
from .config import NotebookStep, RunConfig
from .export import export_notebook
from .index import STATUS_FILE, read_status, write_index
from .kernel import ensure_python_kernel

log = logging.getLogger(__name__)


class NotebookFailed(CellsegError):
    """A notebook raised: names the notebook, the cell and the error; the executed copy is kept."""

    def __init__(self, notebook: str, cell: str, error: str, executed: Path) -> None:
        self.notebook, self.cell, self.error, self.executed = notebook, cell, error, executed
        super().__init__(f"notebook {notebook} failed in {cell}: {error} (executed copy: {executed})")


@dataclass(frozen=True)
class StepResult:
    """What happened to one notebook."""

    name: str
    executed: Path
    report: Path
    clean_report: Path
    duration_s: float


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (what it accepts)."""
    import papermill

    papermill_log = logging.getLogger("papermill")
    level = papermill_log.level
    papermill_log.setLevel(logging.WARNING)  # inspect_notebook logs "Input Notebook: ..." at INFO
    try:
        return set(papermill.inspect_notebook(str(notebook)).keys())
    finally:
        papermill_log.setLevel(level)


def _parameters_for(config: RunConfig, step: NotebookStep, notebook: Path) -> dict:
    declared = declared_parameters(notebook)
    unknown = sorted(set(step.parameters) - declared)
    if unknown:
        raise ConfigError(f"{config.source or config.name}: notebooks.{step.name}: unknown parameter(s) "
                          f"{', '.join(unknown)}; {notebook.name} declares {', '.join(sorted(declared)) or 'none'}")
    params = {k: v for k, v in config.base_parameters().items() if k in declared}
    params.update(step.parameters)
    return params


def _describe_cell(exc) -> str:
    first = next((line.strip() for line in (exc.source or "").splitlines() if line.strip()), "")
    if len(first) > 70:
        first = first[:67] + "..."
    return f"cell {exc.cell_index} (execution count {exc.exec_count}: `{first}`)"


def _update_status(run_dir: Path, name: str, **fields) -> None:
    status = read_status(run_dir)
    status[name] = fields
    atomic_write_json(run_dir / STATUS_FILE, status, indent=1)


def ensure_data(config: RunConfig, say: Callable[[str], None]) -> None:
    """Build the demo dataset into ``data_root`` when the config asks for it and it is not there yet."""
    if (config.data_root / "annotations").is_dir():
        return
    if config.demo_data is None:
        raise ConfigError(f"{config.source or config.name}: data_root {config.data_root} has no annotations/ "
                          "folder; download LIVECell (cellseg-nb download livecell --dest DIR) or build the "
                          "demo data (cellseg-nb demo-data --dest DIR), or pass --data-root")
    from ..demo import generate_demo_dataset

    options = dict(config.demo_data)
    options.setdefault("seed", config.seed)
    say(f"building the demo dataset in {config.data_root} ({options})")
    generate_demo_dataset(config.data_root, **options)


def check_run_outputs(config: RunConfig, steps: list[NotebookStep]) -> None:
    """Before anything runs: the run name stays inside ``runs/`` and ``reports/``, each notebook key is a
    plain file stem inside the run folder, and both folders can be written.

    ``--name ../../elsewhere`` or a notebook key ``../x`` would otherwise write outside the run's folders.
    """
    from ..errors import OutputError
    from ..outputs import check_output_dir, contained_child

    where = config.source or config.name
    for root, what in ((config.runs_dir, "runs folder"), (config.reports_dir, "reports folder")):
        check_output_dir(root, what)
        check_output_dir(contained_child(root, config.name, f"run name (in {where})"), "run folder")
    for step in steps:
        child = contained_child(config.run_dir, step.name, f"notebook key (in {where})")
        if child.parent != config.run_dir:
            raise OutputError("must be a notebook file stem such as 03_train_unet, not a path",
                              path=step.name, what=f"notebook key (in {where})")
        contained_child(config.notebooks_dir, f"{step.name}.ipynb", f"notebook key (in {where})")


def run_pipeline(config: RunConfig, only: list[str] | None = None, *, progress: bool = True,
                 say: Callable[[str], None] = print) -> list[StepResult]:
    """Run the config's notebooks (or the ``only`` subset); returns one result per executed notebook.
    With ``progress`` a bar per notebook and what its cells print (training status lines) reach stdout.

    Output folders, the run name and the notebook keys are checked first (:func:`check_run_outputs`).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    check_run_outputs(config, list(config.notebooks))
    steps = config.select(only)
    sources = {}
    for step in steps:
        path = config.notebooks_dir / f"{step.name}.ipynb"
        if not path.is_file():
            raise ConfigError(f"{config.source or config.name}: notebook {step.name!r} not found at {path}")
        sources[step.name] = path
    params = {step.name: _parameters_for(config, step, sources[step.name]) for step in steps}
    ensure_data(config, say)
    kernel = ensure_python_kernel()
    run_dir, report_dir = config.run_dir, config.report_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    report_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for number, step in enumerate(steps, 1):
        executed = run_dir / f"{step.name}.ipynb"
        partial = run_dir / f".{step.name}.running.ipynb"
        RunArtifacts(run_dir, step.name).clear()
        say(f"[{number}/{len(steps)}] {step.name}: running (kernel {kernel}) -> {executed}")
        _update_status(run_dir, step.name, status="running", started=time.time())
        start = time.perf_counter()
        failure: NotebookFailed | None = None
        try:
            papermill.execute_notebook(
                str(sources[step.name]), str(partial), parameters=params[step.name], kernel_name=kernel,
                progress_bar=progress, cwd=os.getcwd(), execution_timeout=config.cell_timeout_s,
                # what the notebook prints (training status lines among it) reaches the terminal as it runs
                stdout_file=sys.stdout if progress else None,
            )
        except PapermillExecutionError as exc:
            failure = NotebookFailed(step.name, _describe_cell(exc), f"{exc.ename}: {exc.evalue}", executed)
        except Exception as exc:  # kernel died, timeout, bad notebook: still keep what was executed
            failure = NotebookFailed(step.name, "kernel", f"{type(exc).__name__}: {exc}", executed)
        duration = time.perf_counter() - start
        if partial.is_file():
            os.replace(partial, executed)
        full = clean = report_dir / f"{step.name}.html"
        if executed.is_file():
            full, clean = export_notebook(executed, report_dir)
        if failure is not None:
            _update_status(run_dir, step.name, status="failed", duration_s=duration, finished=time.time(),
                           error=f"{failure.cell}: {failure.error}")
            write_index(config)
            say(f"[{number}/{len(steps)}] {step.name}: FAILED after {duration:.1f} s in {failure.cell}")
            raise failure
        _update_status(run_dir, step.name, status="ok", duration_s=duration, finished=time.time())
        write_index(config)
        say(f"[{number}/{len(steps)}] {step.name}: ok in {duration:.1f} s -> {full}")
        results.append(StepResult(step.name, executed, full, clean, duration))
    index = write_index(config)
    say(f"report index: {index}")
    return results


def run_summary(config: RunConfig) -> dict:
    """Status of every notebook of the run as recorded in ``status.json`` (for scripts and tests)."""
    return json.loads(json.dumps(read_status(config.run_dir)))
