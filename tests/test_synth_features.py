"""Image features, distances and the comparison report, against hand-computed references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from cellseg_nb.cli import main
from cellseg_nb.synth import FEATURES, FeaturePCA, frechet_distance, image_features, mmd_rbf
from cellseg_nb.synth.distances import distribution_distances


def test_features_of_a_hand_made_image() -> None:
    image = np.full((100, 120), 128, np.uint8)
    image[:, 60:] = 138  # one vertical edge
    square = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]  # 20 x 20
    rect = [50.0, 50.0, 90.0, 50.0, 90.0, 60.0, 50.0, 60.0]  # 40 x 10, overlaps nothing
    f = image_features(image, [square, rect])
    assert f["cell_count"] == 2
    assert f["area_mean"] == pytest.approx((400 + 400) / 2)
    assert f["circularity_mean"] == pytest.approx((math.pi / 4 + 4 * math.pi * 400 / 100 ** 2) / 2)
    assert f["elongation_mean"] == pytest.approx((1.0 + 4.0) / 2)  # vertex spread ratio 40/10
    assert f["confluence"] == pytest.approx(800 / 12000, rel=0.1)  # pycocotools pixel count ~ polygon area
    assert f["overlap"] == pytest.approx(0.0, abs=0.1)
    assert f["intensity_std"] == pytest.approx(5.0)
    assert f["gradient_mean"] > 0 and f["laplacian_energy"] > 0
    flat = image_features(np.full((50, 50), 128, np.uint8), [])
    assert flat["gradient_mean"] == 0 and flat["intensity_std"] == 0 and flat["cell_count"] == 0
    assert set(flat) == set(FEATURES)


def test_frechet_matches_scipy_sqrtm_reference() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 5))
    b = rng.normal(0.5, 1.5, size=(45, 5)) @ rng.normal(size=(5, 5))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * np.real(linalg.sqrtm(ca @ cb)))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Gaussians with equal covariance: the distance is the squared mean difference
    shifted = a + np.array([1.0, 2.0, 0.0, 0.0, 0.0])
    assert frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-8)


def test_mmd_matches_a_loop() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 3)), rng.normal(1.0, size=(5, 3))
    bw = 1.7

    def k(x, y):
        return math.exp(-float(((x - y) ** 2).sum()) / (2 * bw * bw))

    ref = (sum(k(x, y) for x in a for y in a) / 49 + sum(k(x, y) for x in b for y in b) / 25
           - 2 * sum(k(x, y) for x in a for y in b) / 35)
    assert mmd_rbf(a, b, bw) == pytest.approx(ref, rel=1e-10)
    assert mmd_rbf(a, a, bw) == pytest.approx(0.0, abs=1e-12)


def test_distances_grow_with_a_shift_and_pca_uses_original_axes() -> None:
    rng = np.random.default_rng(2)

    def frame(n, shift, t):
        data = rng.normal(size=(n, len(FEATURES)))
        data[:, FEATURES.index("cell_count")] += shift
        out = pd.DataFrame(data, columns=list(FEATURES))
        out.insert(0, "cell_type", t)
        return out

    original = pd.concat([frame(40, 0.0, "A172"), frame(40, 0.0, "BV2")], ignore_index=True)
    synthetic = pd.concat([frame(40, 0.0, "A172"), frame(40, 3.0, "BV2")], ignore_index=True)
    d = distribution_distances(original, synthetic, {"density": ("cell_count",)}).set_index("cell_type")
    assert d.loc["BV2", "frechet"] > 5 * d.loc["A172", "frechet"]
    assert d.loc["BV2", "mmd2"] > 5 * d.loc["A172", "mmd2"]
    pca = FeaturePCA.fit(original)
    assert pca.transform(synthetic).shape == (80, 2)


def test_cli_on_the_real_sample_with_report(sample_annotations: Path, sample_images: Path, tmp_path: Path,
                                            capsys) -> None:
    dest = tmp_path / "out"
    rc = main(["synth", "--annotations", str(sample_annotations), "--images", str(sample_images), "--dest", str(dest),
               "--factor", "1", "--cell-types", "Huh7", "--confluence-range", "0.2,0.3", "--seed", "1", "--compare"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote 1 synthetic images" in out and "Huh7" in out
    report = dest / "report"
    assert (report / "pca.png").stat().st_size > 1000
    dist = pd.read_csv(report / "distances.csv")
    assert set(dist["features"]) == {"all", "intensity", "texture", "density", "cells"}
    feats = pd.read_csv(report / "features.csv")
    synth = feats[feats["synthetic"]]
    assert len(synth) == 1 and 0.2 <= synth["confluence"].iloc[0] < 0.33
