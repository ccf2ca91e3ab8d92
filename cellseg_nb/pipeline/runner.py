"""Execute the run's notebooks in order with papermill, export them to HTML and rebuild the report index.

A failing notebook stops the run: its executed copy (with the traceback in the failing cell) is kept in
``runs/<name>/``, its HTML report and the index are still written, and :class:`NotebookFailed` names the
notebook and the cell. ``only`` re-executes a subset and reuses every other notebook's artifacts.

A config with ``lanes`` runs those notebooks first, the lanes side by side (one kernel each, a thread here
waiting on it; each lane in config order), then every other notebook in config order. Each kernel then
gets ``OMP_NUM_THREADS`` = CPU cores / lanes unless the environment sets it: on a small CPU two
one-thread kernels keep both cores busy where one two-thread kernel leaves much of its time waiting. When a
lane finishes, a training still running in another lane takes its cores (:mod:`cellseg_nb.train.threads`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..atomic import atomic_write_json
from ..errors import CellsegError, ConfigError
from ..train.threads import GRANT_ENV, ThreadGrant
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


def schedule(config: RunConfig, steps: list[NotebookStep]) -> list[list[list[NotebookStep]]]:
    """The order ``steps`` run in: phases one after another, each a list of lanes that run side by side
    (each lane a list of notebooks run in order). Without ``lanes`` in the config: one lane of all."""
    chosen = {s.name: s for s in steps}
    lanes = [[chosen[n] for n in lane if n in chosen] for lane in config.lanes]
    lanes = [lane for lane in lanes if lane]
    in_lanes = {s.name for lane in lanes for s in lane}
    rest = [s for s in steps if s.name not in in_lanes]
    if len(lanes) < 2:  # nothing side by side: the config order
        return [[steps]]
    return [lanes] + ([[rest]] if rest else [])


def _execute(config: RunConfig, step: NotebookStep, source: Path, params: dict, kernel: str, label: str,
             progress: bool, say: Callable[[str], None], lock: threading.Lock,
             stop: threading.Event) -> StepResult:
    """Execute one notebook, export it and record its status; raises NotebookFailed (and sets ``stop``
    as soon as the notebook has failed, so other lanes start no further notebook)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    run_dir, report_dir = config.run_dir, config.report_dir
    executed = run_dir / f"{step.name}.ipynb"
    partial = run_dir / f".{step.name}.running.ipynb"
    RunArtifacts(run_dir, step.name).clear()
    with lock:
        say(f"{label} {step.name}: running (kernel {kernel}) -> {executed}")
        _update_status(run_dir, step.name, status="running", started=time.time())
    start = time.perf_counter()
    failure: NotebookFailed | None = None
    try:
        papermill.execute_notebook(
            str(source), str(partial), parameters=params, kernel_name=kernel,
            progress_bar=progress, cwd=os.getcwd(), execution_timeout=config.cell_timeout_s,
            # what the notebook prints (training status lines among it) reaches the terminal as it runs
            stdout_file=sys.stdout if progress else None,
        )
    except PapermillExecutionError as exc:
        failure = NotebookFailed(step.name, _describe_cell(exc), f"{exc.ename}: {exc.evalue}", executed)
    except Exception as exc:  # kernel died, timeout, bad notebook: still keep what was executed
        failure = NotebookFailed(step.name, "kernel", f"{type(exc).__name__}: {exc}", executed)
    if failure is not None:
        stop.set()
    duration = time.perf_counter() - start
    if partial.is_file():
        os.replace(partial, executed)
    full = clean = report_dir / f"{step.name}.html"
    if executed.is_file():
        full, clean = export_notebook(executed, report_dir)
    with lock:
        if failure is not None:
            _update_status(run_dir, step.name, status="failed", duration_s=duration, finished=time.time(),
                           error=f"{failure.cell}: {failure.error}")
            write_index(config)
            say(f"{label} {step.name}: FAILED after {duration:.1f} s in {failure.cell}")
            raise failure
        _update_status(run_dir, step.name, status="ok", duration_s=duration, finished=time.time())
        write_index(config)
        say(f"{label} {step.name}: ok in {duration:.1f} s -> {full}")
    return StepResult(step.name, executed, full, clean, duration)


def run_pipeline(config: RunConfig, only: list[str] | None = None, *, progress: bool = True,
                 say: Callable[[str], None] = print) -> list[StepResult]:
    """Run the config's notebooks (or the ``only`` subset); returns one result per executed notebook, in
    config order. With ``progress`` a bar per notebook and what its cells print (training status lines)
    reach stdout. The config's ``lanes`` run side by side first (see the module docstring).

    Output folders, the run name and the notebook keys are checked first (:func:`check_run_outputs`).
    """
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
    config.run_dir.mkdir(parents=True, exist_ok=True)
    config.report_dir.mkdir(parents=True, exist_ok=True)
    import papermill  # noqa: F401  (imported here once, before any lane's thread)

    phases = schedule(config, steps)
    widest = max(len(phase) for phase in phases)
    threads_set = widest > 1 and "OMP_NUM_THREADS" not in os.environ
    if threads_set:  # the kernels inherit it; removed again when the run ends
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // widest))
    try:
        return _run_phases(config, steps, phases, sources, params, kernel, progress, say,
                           share_threads=threads_set)
    finally:
        if threads_set:
            os.environ.pop("OMP_NUM_THREADS", None)


@contextlib.contextmanager
def lane_threads(run_dir: Path, lanes: int, enabled: bool = True) -> Iterator[ThreadGrant | None]:
    """A thread grant for ``lanes`` side-by-side kernels (:mod:`cellseg_nb.train.threads`), named in the
    environment the kernels inherit while the phase runs; removed afterwards. None when not ``enabled``
    (the user set ``OMP_NUM_THREADS``: their choice stands)."""
    if not enabled:
        yield None
        return
    grant = ThreadGrant(run_dir / ".thread_grant.json", os.cpu_count() or 1, lanes)
    before = os.environ.get(GRANT_ENV)
    os.environ[GRANT_ENV] = str(grant.path.resolve())
    try:
        yield grant
    finally:
        if before is None:
            os.environ.pop(GRANT_ENV, None)
        else:
            os.environ[GRANT_ENV] = before
        grant.remove()


def _run_phases(config: RunConfig, steps: list[NotebookStep], phases: list[list[list[NotebookStep]]],
                sources: dict[str, Path], params: dict[str, dict], kernel: str, progress: bool,
                say: Callable[[str], None], share_threads: bool = False) -> list[StepResult]:
    number = {s.name: i for i, s in enumerate(steps, 1)}
    lock = threading.Lock()
    stop = threading.Event()
    results: dict[str, StepResult] = {}

    def run_lane(lane: list[NotebookStep]) -> None:
        for step in lane:
            if stop.is_set():
                return
            try:
                results[step.name] = _execute(config, step, sources[step.name], params[step.name], kernel,
                                              f"[{number[step.name]}/{len(steps)}]", progress, say, lock,
                                              stop)
            except BaseException:
                stop.set()  # the other lanes finish their current notebook and start no other
                raise

    for phase in phases:
        if len(phase) == 1:
            run_lane(phase[0])
            continue
        say("side by side: " + " | ".join(", ".join(s.name for s in lane) for lane in phase)
            + f" (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")
        with lane_threads(config.run_dir, len(phase), share_threads) as grant:
            def lane_then_release(lane: list[NotebookStep]) -> None:
                try:
                    run_lane(lane)
                finally:
                    if grant is not None:
                        grant.lane_finished()  # trainings still running in other lanes take its cores

            with ThreadPoolExecutor(max_workers=len(phase)) as pool:
                futures = [pool.submit(lane_then_release, lane) for lane in phase]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
    index = write_index(config)
    say(f"report index: {index}")
    return [results[s.name] for s in steps if s.name in results]


def run_summary(config: RunConfig) -> dict:
    """Status of every notebook of the run as recorded in ``status.json`` (for scripts and tests)."""
    return json.loads(json.dumps(read_status(config.run_dir)))
