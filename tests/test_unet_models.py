"""U-Net family: contract shapes, presets, post-processing on hand-built cases, ensemble routing, timm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellseg_nb.errors import ConfigError
from cellseg_nb.models import PostprocessParams, build_model, semantic_to_instances, semantic_to_labels
from cellseg_nb.models.unet import UNET_PRESETS


@pytest.mark.parametrize("name,levels", [("unet", 4), ("unet_expanded", 5), ("unet_deep", 6)])
def test_presets_levels_and_contract(name, levels):
    model = build_model(name, width_mult=1 / 32, norm="group")
    assert len(model.widths) == levels
    assert model.widths[-1] == round(UNET_PRESETS[name][-1] / 32)
    x = torch.rand(2, 1, 45, 70) * 255  # not a multiple of 2**levels: padded and cropped back
    model.train()
    t = [{"semantic": torch.randint(0, 3, (45, 70))} for _ in range(2)]
    losses = model(x, t)
    assert set(losses) == {"loss_ce"} and losses["loss_ce"].ndim == 0
    model.eval()
    out = model(x)
    assert len(out) == 2
    for o in out:
        n = o["masks"].shape[0]
        assert o["masks"].dtype == torch.bool and o["masks"].shape[1:] == (45, 70)
        assert o["scores"].shape == (n,) and o["boxes"].shape == (n, 4)
        assert o["semantic_probs"].shape == (3, 45, 70)
        assert torch.allclose(o["semantic_probs"].sum(0), torch.ones(45, 70), atol=1e-5)


def test_full_width_preset_channels():
    model = build_model("unet")
    assert model.widths == [64, 128, 256, 512]


def test_dice_loss_and_unknown_names():
    model = build_model("unet", width_mult=1 / 16, dice_weight=1.0).train()
    losses = model(torch.rand(1, 1, 16, 16) * 255, [{"semantic": torch.ones(16, 16, dtype=torch.long)}])
    assert set(losses) == {"loss_ce", "loss_dice"} and 0 < losses["loss_dice"] < 1
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("unet_huge")
    with pytest.raises(ConfigError, match="takes no colour"):
        build_model("unet", colour=True)


def _two_touching_cells():
    labels = np.zeros((20, 30), np.int32)
    labels[4:14, 3:14] = 1
    labels[4:14, 14:26] = 2  # touches cell 1 along column 13|14
    boundary = np.zeros_like(labels, bool)
    for k in (1, 2):
        m = labels == k
        inner = m.copy()
        inner[1:-1, 1:-1] = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
        inner[0, :] = inner[-1, :] = False
        inner[:, 0] = inner[:, -1] = False
        boundary |= m & ~inner
    probs = np.zeros((3,) + labels.shape, np.float32)
    probs[0] = 0.9
    probs[1] = 0.05
    probs[2] = 0.05
    interior = (labels > 0) & ~boundary
    probs[:, interior] = np.array([0.05, 0.9, 0.05])[:, None]
    probs[:, boundary] = np.array([0.1, 0.2, 0.7])[:, None]
    return labels, interior, boundary, probs


def test_postprocess_separates_touching_cells_and_scores_by_foreground():
    labels, interior, boundary, probs = _two_touching_cells()
    out = semantic_to_instances(torch.from_numpy(probs))
    assert out["masks"].shape[0] == 2
    found = sorted(out["masks"].numpy(), key=lambda m: np.flatnonzero(m.any(0))[0])
    for k, mask in zip((1, 2), found):
        assert np.array_equal(mask, labels == k)
        n_int = int((interior & (labels == k)).sum())
        n_bd = int((boundary & (labels == k)).sum())
        expected = (0.95 * n_int + 0.9 * n_bd) / (n_int + n_bd)  # mean of 1 - P(background)
        i = [j for j in range(2) if np.array_equal(out["masks"][j].numpy(), labels == k)][0]
        assert out["scores"][i] == pytest.approx(expected, rel=1e-5)
        ys, xs = np.nonzero(labels == k)
        assert out["boxes"][i].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_postprocess_drops_small_and_handles_empty():
    probs = np.zeros((3, 10, 10), np.float32)
    probs[0] = 1
    assert semantic_to_labels(probs).max() == 0
    assert semantic_to_instances(probs)["masks"].shape == (0, 10, 10)
    probs[:, 2:4, 2:4] = np.array([0, 1, 0])[:, None, None]  # 4-pixel cell
    assert semantic_to_labels(probs, PostprocessParams(min_area=10)).max() == 0
    assert semantic_to_labels(probs, PostprocessParams(min_area=4)).max() == 1


def test_ensemble_routes_each_image_to_its_type():
    torch.manual_seed(0)
    model = build_model("ensemble", cell_types=["A172", "BV2"], width_mult=1 / 16, widths=[64, 128], norm="group")
    x = torch.rand(2, 1, 16, 16) * 255
    t = [{"semantic": torch.randint(0, 3, (16, 16)), "cell_type": "A172"} for _ in range(2)]
    model.train()
    model(x, t)["loss_ce"].backward()
    a172 = [p.grad for p in model.members["A172"].parameters()]
    bv2 = [p.grad for p in model.members["BV2"].parameters()]
    assert any(g.abs().sum() > 0 for g in a172)
    assert all(g is not None and g.abs().sum() == 0 for g in bv2)
    model.eval()
    routed = model(x[:1], cell_types=["BV2"])[0]["semantic_probs"]
    own = model.members["BV2"].semantic_logits(x[:1]).softmax(1)[0]
    assert torch.allclose(routed, own)
    with pytest.raises(ValueError, match="no ensemble member"):
        model(x[:1], cell_types=["MCF7"])


def test_timm_encoder_loads_local_weights(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(1)
    reference = timm.create_model("resnet18", pretrained=False, in_chans=3)
    path = tmp_path / "enc.pt"
    torch.save(reference.state_dict(), path)
    model = build_model("unet_timm", encoder="resnet18", encoder_weights=str(path), decoder_width_mult=0.25)
    ref = reference.state_dict()
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, ref[k]), k
    model.eval()
    out = model(torch.rand(1, 1, 40, 50) * 255)[0]
    assert out["semantic_probs"].shape == (3, 40, 50)
    fresh = build_model("unet_timm", encoder="resnet18", decoder_width_mult=0.25)
    assert not torch.equal(fresh.encoder.state_dict()["conv1.weight"], ref["conv1.weight"])


def test_every_family_registers_its_target_kind():
    from cellseg_nb.models.registry import family_of, model_names, target_kind

    assert {target_kind(n) for n in ("unet", "unet_expanded", "unet_deep", "unet_timm", "ensemble")} == {"semantic"}
    assert {target_kind(n) for n in model_names() if n.startswith("centermask")} == {"instance"}
    assert family_of("ensemble").family == "ensemble" and "base" in family_of("ensemble").kwargs
    with pytest.raises(ConfigError, match="unknown model 'centermask_v200'"):
        target_kind("centermask_v200")
