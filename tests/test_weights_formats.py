"""The weights reader: formats recognised by content (files built here in each real format), strict loading
with errors that name keys, finite checks, normalisation checks, cellseg-nb checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from cellseg_nb.models.centermask import build_centermask
from cellseg_nb.models.centermask.convert import to_centermask2_state_dict
from cellseg_nb.models.instances import prediction_masks
from cellseg_nb.models.registry import build_model
from cellseg_nb.train.checkpoint import save_checkpoint
from cellseg_nb.weights import LoadReport, WeightsError, init_weights, load_model, read_weights

from test_centermask_convert import LITE_SHAPES

LITE = "centermask_lite_v19_slim_dw"
#: a small input and a threshold low enough that a random model makes detections to compare
SMALL = dict(test_min_size=96, test_max_size=96, inference_threshold=0.0, pre_nms_topk_test=50,
             post_nms_topk_test=20, detections_per_image=20)
BB = "backbone.bottom_up."


def lite(seed: int, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_centermask(LITE, **{**SMALL, **overrides}).eval()


def save_d2(path: Path, state: dict, *, wrap: bool = True, mean: float | list | None = None,
            std: float | list | None = None) -> Path:
    """A detectron2-style checkpoint: {"model": state_dict, "iteration": n} (or bare), optional pixel_mean/std."""
    state = dict(state)
    if mean is not None:
        state["pixel_mean"] = torch.tensor(mean if isinstance(mean, list) else [mean] * 3).view(3, 1, 1)
        state["pixel_std"] = torch.tensor(std if isinstance(std, list) else [std] * 3).view(3, 1, 1)
    torch.save({"model": state, "iteration": 7} if wrap else state, path)
    return path


def backbone_only(state: dict, *, bare: bool = False) -> dict:
    """The trunk of a centermask2 state dict as an ImageNet backbone file holds it (+ a classifier)."""
    out = {(k[len(BB):] if bare else k): v for k, v in state.items() if k.startswith(BB)}
    out["linear.weight"] = torch.zeros(1000, 512)  # ImageNet classifier: not part of any detector
    return out


def outputs_equal(a: torch.nn.Module, b: torch.nn.Module, size: int = 96) -> int:
    """Both models' predictions on one random image are identical; returns the number of detections."""
    image = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        pa, pb = a(image)[0], b(image)[0]
    for key in ("boxes", "scores"):
        assert torch.equal(pa[key], pb[key]), key
    dense_a, dense_b = (prediction_masks(p["masks"], "dense") for p in (pa, pb))
    assert dense_a.shape == dense_b.shape and (dense_a == dense_b).all()
    return len(pa["scores"])


def test_formats_are_recognised_from_content_not_names(tmp_path: Path) -> None:
    source = lite(0)
    d2 = to_centermask2_state_dict(source)
    assert len(d2) == 194  # spec §6: Lite V-19-slim-DW has 194 tensors; documented names and shapes:
    assert all(tuple(d2[key].shape) == shape for key, shape in LITE_SHAPES.items())
    trunk = timm.create_model("ese_vovnet19b_slim_dw", pretrained=False)
    files = {
        "centermask2": save_d2(tmp_path / "weights.safetensors", d2),  # a torch zip under a misleading name
        "centermask2 bare": save_d2(tmp_path / "bare.pth", d2, wrap=False),
        "d2-backbone": save_d2(tmp_path / "vovnet.pkl", backbone_only(d2), wrap=False),
        "d2-backbone bare": save_d2(tmp_path / "vovnet_bare.pth", backbone_only(d2, bare=True), wrap=False),
        "timm": tmp_path / "timm.bin",
        "timm safetensors": tmp_path / "timm.pth",  # safetensors content under a .pth name
        "cellseg-nb": tmp_path / "model.safetensors",
    }
    torch.save(trunk.state_dict(), files["timm"])
    save_file({k: v.contiguous() for k, v in trunk.state_dict().items()}, str(files["timm safetensors"]))
    save_checkpoint(files["cellseg-nb"], {"model_name": LITE, "model_kwargs": SMALL, "model": source.state_dict(),
                                          "step": 3})
    for label, path in files.items():
        weights = read_weights(path)
        assert weights.format == label.split()[0], label
    assert read_weights(files["cellseg-nb"]).model_kwargs == SMALL
    assert len(read_weights(files["timm safetensors"]).state) == len(trunk.state_dict())

    (tmp_path / "notes.pth").write_text("not weights at all, just some text")
    with pytest.raises(WeightsError, match="notes.pth: not a weights file"):
        read_weights(tmp_path / "notes.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        read_weights(tmp_path / "empty.pth")
    with pytest.raises(WeightsError, match="not found"):
        read_weights(tmp_path / "absent.pth")
    torch.save({"model": {"a.weight": torch.zeros(2), "b": 3}}, tmp_path / "mixed.pth")
    with pytest.raises(WeightsError, match=r"non-tensor entries in the state dict: 1 \(b\)"):
        read_weights(tmp_path / "mixed.pth")


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran')",))

    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"model": {"x": Evil()}}, handle)
    with pytest.raises(WeightsError, match="other than tensors"):
        read_weights(tmp_path / "evil.pth")


def test_centermask2_file_loads_strictly_with_inferred_architecture(tmp_path: Path) -> None:
    source = lite(1)
    path = save_d2(tmp_path / "model_final.pth", to_centermask2_state_dict(source), mean=128.0, std=11.578)
    model, report = load_model(path, **SMALL)
    assert isinstance(report, LoadReport) and report.format == "centermask2"
    assert len(report.loaded) == 194 and not (report.missing or report.unexpected or report.shape_mismatch)
    assert report.model_name == LITE and report.model_kwargs["fpn_channels"] == 128
    assert report.model_kwargs["fcos_num_convs"] == 2 and report.model_kwargs["maskiou_conv_dim"] == 128
    assert report.pixel_mean == pytest.approx([128.0] * 3) and not model.training
    assert outputs_equal(source, model) > 0


def test_one_heads_keys_renamed_is_refused_naming_the_keys(tmp_path: Path) -> None:
    state = to_centermask2_state_dict(lite(2))
    renamed = {k.replace("roi_heads.mask_head.", "roi_heads.mask_head_v2."): v for k, v in state.items()}
    moved = sorted(k for k in state if k.startswith("roi_heads.mask_head."))
    assert len(moved) == 9  # mask_fcn1-2 (w, b), spatialAtt conv, deconv (w, b), predictor (w, b)
    path = save_d2(tmp_path / "renamed.pth", renamed)
    with pytest.raises(WeightsError) as err:
        load_model(path, **SMALL)
    text = str(err.value)
    assert str(path) in text
    assert "9 (mask_head.mask_fcn1.weight, mask_head.mask_fcn1.bias" in text and "model key(s) missing" in text
    assert "9 (roi_heads.mask_head_v2.mask_fcn1.weight" in text and "no place in the model" in text
    target = lite(3)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsError, match="missing"):
        init_weights(target, path)
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in before.items())  # nothing half-loaded
    report = init_weights(target, path, allow_mismatch=["mask_head.*", "roi_heads.mask_head_v2.*"])
    assert len(report.missing) == 9 and len(report.unexpected) == 9 and len(report.loaded) == 194 - 9


def test_shape_mismatch_is_refused_unless_allowed(tmp_path: Path) -> None:
    wide = to_centermask2_state_dict(lite(4, mask_conv_dim=64))
    path = save_d2(tmp_path / "wide.pth", wide)
    target = lite(5)
    with pytest.raises(WeightsError, match=r"7 \(mask_head.mask_fcn1.weight \(64, 128, 3, 3\) vs \(128, 128, 3, 3\)"
                                           r".*tensor\(s\) of another shape \(file vs model\)"):
        init_weights(target, path)
    report = init_weights(target, path, allow_mismatch=["mask_head.*"])
    assert len(report.shape_mismatch) == 7 and len(report.loaded) == 194 - 7


def test_non_finite_weights_are_refused_naming_the_first_bad_key(tmp_path: Path) -> None:
    state = to_centermask2_state_dict(lite(6))
    state["backbone.fpn_lateral4.weight"][0, 0, 0, 0] = float("nan")
    state["roi_heads.maskiou_head.maskiou.weight"][0, 0] = float("inf")
    path = save_d2(tmp_path / "nan.pth", state)
    with pytest.raises(WeightsError, match=r"nan.pth: backbone.fpn_lateral4.weight: 1 non-finite"):
        load_model(path)
    trunk = timm.create_model("ese_vovnet19b_slim_dw", pretrained=False).state_dict()
    trunk["stages.1.blocks.0.conv_concat.conv.weight"][0, 0, 0, 0] = float("-inf")
    save_file({k: v.contiguous() for k, v in trunk.items()}, str(tmp_path / "inf.safetensors"))
    with pytest.raises(WeightsError, match="stages.1.blocks.0.conv_concat.conv.weight: 1 non-finite"):
        init_weights(lite(7), tmp_path / "inf.safetensors")


def test_normalisation_mismatch_is_refused_with_what_to_set(tmp_path: Path) -> None:
    source = lite(8)
    bgr = [103.530, 116.280, 123.675]
    path = save_d2(tmp_path / "coco_norm.pth", to_centermask2_state_dict(source), mean=bgr, std=1.0)
    with pytest.raises(WeightsError, match=r"set pixel_mean=114.495 pixel_std=1.0") as err:
        load_model(path, **SMALL)
    assert "per-channel" in str(err.value)
    model, _ = load_model(path, **SMALL, pixel_mean=114.495, pixel_std=1.0)
    assert model.config.pixel_mean == 114.495
    load_model(path, **SMALL, check_normalisation=False)
    plain = save_d2(tmp_path / "plain.pth", to_centermask2_state_dict(source))
    (tmp_path / "Base.yaml").write_text("INPUT:\n  MIN_SIZE_TEST: 96\n  MAX_SIZE_TEST: 96\n")
    (tmp_path / "livecell.yaml").write_text('_BASE_: "Base.yaml"\nMODEL:\n  PIXEL_MEAN: [128, 128, 128]\n'
                                            "  PIXEL_STD: [11.578, 11.578, 11.578]\n"
                                            "  FCOS:\n    POST_NMS_TOPK_TEST: 3000\n")
    model, _ = load_model(plain, d2_config=tmp_path / "livecell.yaml")
    c = model.config
    assert (c.test_min_size, c.test_max_size, c.post_nms_topk_test, c.pre_nms_topk_test) == (96, 96, 3000, 1000)
    (tmp_path / "coco.yaml").write_text("MODEL:\n  FCOS:\n    NUM_CLASSES: 1\n")  # d2's default BGR mean applies
    with pytest.raises(WeightsError, match="pixel_mean"):
        load_model(plain, d2_config=tmp_path / "coco.yaml")


def test_cellseg_checkpoint_loads_and_a_wrong_architecture_is_named(tmp_path: Path) -> None:
    torch.manual_seed(9)
    unet = build_model("unet", width_mult=0.125).eval()
    path = tmp_path / "unet.pt"
    save_checkpoint(path, {"model_name": "unet", "model_kwargs": {"width_mult": 0.125}, "model": unet.state_dict()})
    model, report = load_model(path)
    assert report.format == "cellseg-nb" and report.model_name == "unet" and not report.missing
    x = torch.rand(1, 1, 32, 32) * 255
    with torch.no_grad():
        assert torch.equal(model(x)[0]["semantic_probs"], unet(x)[0]["semantic_probs"])
    centermask = lite(15)
    save_checkpoint(tmp_path / "cm.pt", {"model_name": LITE, "model": centermask.state_dict(),
                                         "model_kwargs": {**SMALL, "backbone_checkpoint": str(tmp_path / "gone.pth")}})
    restored, report = load_model(tmp_path / "cm.pt")  # the trunk file it was built from is not needed
    assert report.model_kwargs["backbone_checkpoint"] is None and outputs_equal(centermask, restored) > 0
    wider = build_model("unet", width_mult=0.25)
    with pytest.raises(WeightsError, match=r"do not fit this model \(a checkpoint of 'unet' with "
                                           r"\{'width_mult': 0.125\}.*of another shape"):
        init_weights(wider, path)
    with pytest.raises(WeightsError, match="only fits CenterMask"):
        init_weights(wider, save_d2(tmp_path / "d2.pth", to_centermask2_state_dict(lite(0))))


def test_backbone_files_load_only_the_trunk(tmp_path: Path) -> None:
    source = lite(10)
    d2 = to_centermask2_state_dict(source)
    for bare in (False, True):
        path = save_d2(tmp_path / f"imagenet_{bare}.pth", backbone_only(d2, bare=bare), wrap=False)
        target = lite(11)
        before = {k: v.clone() for k, v in target.state_dict().items()}
        report = init_weights(target, path)
        assert report.format == "d2-backbone" and report.scope == "backbone.body."
        assert report.ignored == ["linear.weight"] and not report.missing
        for key, value in target.state_dict().items():
            expected = source.state_dict()[key] if key.startswith("backbone.") else before[key]
            assert torch.equal(value, expected), key
    with pytest.raises(WeightsError, match="holds only a backbone"):
        load_model(tmp_path / "imagenet_True.pth")
    partial = backbone_only(d2)
    del partial[BB + "stage5.OSA5_1.ese.fc.bias"]
    with pytest.raises(WeightsError, match=r"1 \(backbone.body.stages_3.blocks.0.attn.fc.bias\) model key"):
        init_weights(lite(12), save_d2(tmp_path / "partial.pth", partial, wrap=False))


def test_timm_files_into_centermask_unet_and_backbone(tmp_path: Path) -> None:
    from cellseg_nb.models.centermask.backbone import VoVNetBackbone

    torch.manual_seed(13)
    trunk = timm.create_model("ese_vovnet39b", pretrained=False)
    save_file({k: v.contiguous() for k, v in trunk.state_dict().items()}, str(tmp_path / "v39.safetensors"))
    backbone = VoVNetBackbone("ese_vovnet39b", frozen_bn=False)
    report = init_weights(backbone, tmp_path / "v39.safetensors")
    assert sorted(report.ignored) == ["head.fc.bias", "head.fc.weight"]
    assert len(report.missing) == 2 * 2  # the 2 eSE timm lacks in V-39 (weight, bias), kept as the identity
    assert all(".attn.fc." in k for k in report.missing)
    assert torch.equal(backbone.body.stages_2.blocks[1].conv_concat.conv.weight,
                       trunk.stages[2].blocks[1].conv_concat.conv.weight)
    added = backbone.body.stages_2.blocks[0].attn.fc
    assert torch.all(added.weight == 0) and torch.all(added.bias == 3)
    resnet = timm.create_model("resnet18", pretrained=False)
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pth")
    unet = build_model("unet_timm", encoder="resnet18", encoder_weights=str(tmp_path / "resnet18.pth"),
                       decoder_width_mult=0.25)
    assert unet.encoder_report.ignored == ["fc.weight", "fc.bias"]
    with pytest.raises(WeightsError, match="do not fit"):
        build_model("unet_timm", encoder="resnet34", encoder_weights=str(tmp_path / "resnet18.pth"))


def test_loading_keeps_dtype_and_reaches_the_device_asked_for(tmp_path: Path) -> None:
    source = lite(14)
    half = {k: v.half() if v.is_floating_point() else v for k, v in to_centermask2_state_dict(source).items()}
    model, _ = load_model(save_d2(tmp_path / "half.pth", half), **SMALL, device="cpu")
    weight = model.fcos_head.cls_logits.weight
    assert weight.dtype == torch.float32 and weight.device.type == "cpu"
    assert torch.equal(weight, source.fcos_head.cls_logits.weight.half().float())
    assert math.isclose(float(model.fcos_head.cls_logits.bias[0]), float(source.fcos_head.cls_logits.bias[0].half()))
