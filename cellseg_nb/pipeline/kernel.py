"""Make sure papermill runs notebooks in *this* interpreter (the project's venv), not some other python3.

Jupyter looks kernelspecs up in the user's folders before the venv's, so a ``python3`` spec in
``~/.local/share/jupyter`` pointing at a system Python would silently run the notebooks without the
package. :func:`ensure_python_kernel` checks what ``python3`` resolves to and, when it is not the current
interpreter, installs a kernelspec for it into the venv (``sys.prefix``) under a project-specific name.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

#: Name of the kernelspec installed into the venv when ``python3`` points elsewhere.
FALLBACK_KERNEL = "cellseg-nb-python3"

# jupyter_client replaces these argv[0] values with sys.executable when it starts a kernel.
_SELF_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


def _runs_this_interpreter(argv: list[str]) -> bool:
    if not argv:
        return False
    exe = argv[0]
    if exe in _SELF_NAMES:
        return True
    try:
        return os.path.samefile(exe, sys.executable)
    except OSError:
        return False


def ensure_python_kernel(prefix: str | None = None) -> str:
    """Return a kernel name that runs the current interpreter, installing a kernelspec into ``prefix``
    (default: this environment, ``sys.prefix``) if ``python3`` runs another Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    for name in ("python3", FALLBACK_KERNEL):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        if _runs_this_interpreter(list(spec.argv)):
            return name
    from ipykernel.kernelspec import install

    prefix = prefix or sys.prefix
    log.info("installing kernelspec %s for %s into %s", FALLBACK_KERNEL, sys.executable, prefix)
    install(kernel_name=FALLBACK_KERNEL, display_name=f"Python 3 (cellseg-nb, {sys.prefix})", prefix=prefix)
    return FALLBACK_KERNEL
