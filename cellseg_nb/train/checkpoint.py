"""Training checkpoints: tensors and plain containers only, so they load with ``weights_only=True``.

A checkpoint holds the model (name, kwargs, state dict), optimiser, schedule, AMP scaler, RNG states
(python, numpy, torch, cuda), step, epoch and position in the epoch, and the config. RNG states are
converted to tensors / ints so no pickled object (and so no code) is ever loaded. Writing lives here;
reading goes through :mod:`cellseg_nb.weights`, the one reader of weights files.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import DataError


def capture_rng_state() -> dict:
    """Python, numpy, torch (and CUDA) RNG states as tensors and ints."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temp file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a whole training checkpoint (model, optimiser, RNG, position) to resume from, through
    :func:`cellseg_nb.weights.formats.load_payload` (``weights_only=True``, never executes code); DataError
    (a WeightsError) when unreadable, not a cellseg-nb checkpoint, or holding non-finite weights."""
    from ..weights.formats import check_finite, load_payload

    path = Path(path)
    ckpt = load_payload(path, map_location)
    for key in ("model_name", "model_kwargs", "model"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise DataError(f"not a cellseg-nb checkpoint (no {key!r})", file=path)
    check_finite(ckpt["model"], path)
    return ckpt


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest ``step_*.pt`` in ``directory`` (by step number), or None."""
    found = sorted(Path(directory).glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return found[-1] if found else None


def build_model_from_checkpoint(ckpt: dict | str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the model a checkpoint names (registry name + kwargs) and load its weights strictly
    (:func:`cellseg_nb.weights.load_model` for a file); the model is in eval mode."""
    from ..weights.load import model_from_checkpoint

    if not isinstance(ckpt, dict):
        from ..weights import load_model

        return load_model(ckpt, device=map_location)[0]
    return model_from_checkpoint(ckpt, device=map_location)[0]
