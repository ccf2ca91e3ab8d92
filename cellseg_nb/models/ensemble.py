"""Per-cell-type ensemble: one U-Net per cell type, each image routed to its type's model.

Training routes every image (by ``target["cell_type"]``) to its type's sub-model, so each sub-model
learns only from its type. In eval mode pass ``cell_types=[...]`` (predict and the engine do, from the
image metadata); without them every sub-model runs and their class probabilities are averaged.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..celltypes import CELL_TYPES, canonical_cell_type
from .postprocess import semantic_to_instances
from .unet import SemanticSegmenter, UNet, build_unet
from .registry import keyword_names, register_family


class CellTypeEnsemble(nn.Module):
    """``members[cell_type]`` is a :class:`SemanticSegmenter`; the ensemble obeys the model contract."""

    uses_cell_types = True

    def __init__(self, cell_types: Sequence[str] = CELL_TYPES, base: str = "unet", **unet_kwargs) -> None:
        super().__init__()
        types = [canonical_cell_type(t) for t in cell_types]
        if not types:
            raise ValueError("an ensemble needs at least one cell type")
        self.cell_types = types
        self.members = nn.ModuleDict({t: build_unet(base, **unet_kwargs) for t in types})

    def _member(self, cell_type: str) -> SemanticSegmenter:
        key = canonical_cell_type(cell_type)
        if key not in self.members:
            raise ValueError(f"no ensemble member for cell type {cell_type!r}; have {self.cell_types}")
        return self.members[key]

    def forward(self, images: torch.Tensor, targets: Sequence[dict] | None = None,
                cell_types: Sequence[str] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("train mode needs targets with 'semantic' and 'cell_type'")
            total = {}
            groups: dict[str, list[int]] = {}
            for i, t in enumerate(targets):
                groups.setdefault(canonical_cell_type(t["cell_type"]), []).append(i)
            for cell_type, idx in groups.items():
                member = self._member(cell_type)
                logits = member.semantic_logits(images[idx])
                for k, v in member.losses(logits, [targets[i] for i in idx]).items():
                    total[k] = total.get(k, 0) + v * (len(idx) / len(targets))
            # Members without images this step still take part in the graph (needed by DDP).
            unused = sum(p.sum() * 0 for t, m in self.members.items() if t not in groups for p in m.parameters())
            total["loss_ce"] = total["loss_ce"] + unused
            return total
        if cell_types is None:
            probs = torch.stack([m.semantic_logits(images).float().softmax(1) for m in self.members.values()]).mean(0)
        else:
            probs = torch.cat([self._member(t).semantic_logits(images[i:i + 1]).float().softmax(1)
                               for i, t in enumerate(cell_types)])
        pp = next(iter(self.members.values())).postprocess
        return [semantic_to_instances(p, pp) for p in probs]


def _build_ensemble(name: str, **kwargs) -> CellTypeEnsemble:
    return CellTypeEnsemble(**kwargs)


register_family("ensemble", ("ensemble",), "semantic", _build_ensemble,
                keyword_names(CellTypeEnsemble.__init__, UNet.__init__, SemanticSegmenter.__init__))
