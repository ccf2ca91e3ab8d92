"""Run the notebooks as a pipeline: papermill execution, HTML export, report index, run artifacts.

``cellseg-nb run --config configs/demo.yaml`` is :func:`run_pipeline` on :func:`load_run_config`; notebooks
write their headline tables and figures through :class:`RunArtifacts`.
"""

from .artifacts import RunArtifacts, list_artifacts
from .config import NotebookStep, RunConfig, config_from_dict, load_run_config
from .export import export_notebook, notebook_to_html
from .index import read_status, render_index, write_index
from .kernel import ensure_python_kernel
from .runner import NotebookFailed, StepResult, run_pipeline

__all__ = [
    "NotebookFailed", "NotebookStep", "RunArtifacts", "RunConfig", "StepResult", "config_from_dict",
    "ensure_python_kernel", "export_notebook", "list_artifacts", "load_run_config", "notebook_to_html",
    "read_status", "render_index", "run_pipeline", "write_index",
]
