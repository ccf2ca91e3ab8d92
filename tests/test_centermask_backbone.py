"""VoVNetV2 backbone: C3-C5 strides and widths, FrozenBN, eSE in every OSA block (centermask2), and
initialisation from a timm checkpoint file on disk."""

from __future__ import annotations

import timm
import torch
from timm.layers import FrozenBatchNormAct2d
from timm.models.vovnet import OsaBlock

from cellseg_nb.models.centermask.backbone import VoVNetBackbone


def test_c3_to_c5_strides_channels_and_frozen_bn() -> None:
    backbone = VoVNetBackbone("ese_vovnet19b_slim_dw", frozen_bn=True).eval()
    feats = backbone(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, 256, 8, 12), (1, 384, 4, 6), (1, 512, 2, 3)]
    assert backbone.out_channels == [256, 384, 512] and backbone.strides == [8, 16, 32]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())
    assert any(isinstance(m, FrozenBatchNormAct2d) for m in backbone.modules())
    assert backbone.num_added_ese == 0  # V-19: one block per stage, timm already has its eSE


def test_ese_in_every_block_for_v39() -> None:
    backbone = VoVNetBackbone("ese_vovnet39b", frozen_bn=False)
    blocks = [m for m in backbone.modules() if isinstance(m, OsaBlock)]
    assert len(blocks) == 6 and all(b.attn is not None for b in blocks)  # stages 2-5 hold 1+1+2+2 blocks
    assert backbone.num_added_ese == 2
    timm_only = VoVNetBackbone("ese_vovnet39b", ese_every_block=False, frozen_bn=False)
    assert sum(b.attn is not None for b in timm_only.modules() if isinstance(b, OsaBlock)) == 4
    # the added eSE starts as the identity, so outputs equal the timm model's with the same weights
    timm_only.load_state_dict(backbone.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 64)
    backbone.eval()
    timm_only.eval()
    for a, b in zip(backbone(x), timm_only(x)):
        assert torch.allclose(a, b, atol=1e-5)


def test_initialise_from_timm_checkpoint_file(tmp_path) -> None:
    torch.manual_seed(3)
    full = timm.create_model("ese_vovnet19b_slim_dw", pretrained=False)
    path = tmp_path / "vovnet.pth"
    torch.save(full.state_dict(), path)
    backbone = VoVNetBackbone("ese_vovnet19b_slim_dw", checkpoint=path, frozen_bn=True).eval()
    assert backbone.checkpoint_report["unexpected"] == []
    assert torch.equal(backbone.body.stages_2.blocks[0].conv_concat.conv.weight,
                       full.stages[2].blocks[0].conv_concat.conv.weight)
    full.eval()
    x = torch.randn(1, 3, 64, 64)
    expected = full.forward_intermediates(x, indices=(2, 3, 4), intermediates_only=True)
    for a, b in zip(backbone(x), expected):
        assert torch.allclose(a, b, atol=1e-5)
