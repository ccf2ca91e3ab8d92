"""Frozen BatchNorm needs trained statistics: a CenterMask with ``frozen_bn=True`` whose backbone received no
weights runs every activation through identity-like frozen normalisation (V-99's C5 has a standard
deviation around 1e5 at initialisation), so training it is refused with a message that says what to set.
"""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError


def backbone_has_weights(model: nn.Module) -> bool:
    """True when weights were loaded into ``model``'s backbone: by :func:`init_weights` / :func:`load_model`
    (their reports are kept on the model) or through the ``backbone_checkpoint`` config key."""
    if any(report.covers("backbone.") for report in getattr(model, "weights_reports", [])):
        return True
    backbone = getattr(model, "backbone", None)
    return getattr(backbone, "weights_report", None) is not None


def check_frozen_bn(model: nn.Module) -> None:
    """ConfigError for a CenterMask with frozen BatchNorm over a randomly initialised backbone.

    Call it after the initial weights are applied and before training; models built to predict (weights
    loaded afterwards) never go through it.
    """
    from ..models.centermask import CenterMask

    if not isinstance(model, CenterMask) or not model.config.frozen_bn or backbone_has_weights(model):
        return
    raise ConfigError("model: CenterMask with frozen BatchNorm (frozen_bn: true) over a randomly initialised "
                      "backbone: frozen BatchNorm needs trained statistics. Give initial weights "
                      "(model.init_weights: a zoo name such as imagenet-vovnet19-slim-dw-d2 or "
                      "coco-centermask-lite-v19-slim-dw, or a file; `cellseg-nb weights list`) or set "
                      "frozen_bn: false (model.kwargs.frozen_bn)")
