"""Per-cell-line morphology of the demo data and the polygon outlines drawn from it.

Numbers marked *measured* come from the 5 annotated real LIVECell images (BT474 x2, Huh7, MCF7 x2;
``benchmarks/measure_real_sample.py``): polygon area percentiles, elongation (major/minor axis of the
vertex-moment ellipse), solidity (area / convex hull) and cells per 10^4 px. The other five lines have
no annotations in the sample: their numbers are *chosen* from the unlabeled sample images (contrast,
foreground fraction from texture, halo fraction) and the lines' known appearance (BV-2 small round
microglia, SH-SY5Y neuroblastoma with neurites, A172 flat glioblastoma, SK-OV-3 spindle cells, SkBr3
rounded cells). docs/demo-data.md lists both and compares them with the generated data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Morphology:
    """How one cell line looks and grows in the demo data.

    Sizes are in pixels of the 704x520 image, densities in cells per 10^4 px of image area.
    """

    area_median: float          #: median cell area (px) at mid-culture
    area_spread: float          #: sigma of log(area)
    elongation: float           #: median major/minor axis ratio of the outline
    elongation_spread: float    #: sigma of log(elongation)
    irregularity: float         #: amplitude of low-order radial harmonics (0 = ellipse)
    processes: tuple[int, int]  #: (min, max) thin processes / neurites per cell
    process_length: float       #: process length in cell radii
    density_start: float        #: cells per 10^4 px at 0 h
    density_max: float          #: carrying capacity (cells per 10^4 px)
    doubling_hours: float       #: population doubling time before confluence
    clustering: float           #: probability a new cell is placed touching an earlier one
    max_overlap: float          #: largest fraction of a cell's pixels that may lie on earlier cells
    darkness: float             #: mean interior darkening (grey levels at full thickness)
    texture: float              #: amplitude of the interior granules (grey levels per unit granule field)
    halo: float                 #: strength of the bright band inside the outline (grey levels per unit band)
    halo_sigma: float           #: width of the halo (px)
    roundness: float            #: 0 = flat cell, 1 = rounded (thickness rises steeply, bright halo)
    vertices: int = 48          #: polygon vertices (LIVECell outlines have 5 to 140)


#: Per-type parameters; see module docstring and docs/demo-data.md for which are measured.
MORPHOLOGIES: dict[str, Morphology] = {
    # large, flat, irregular glioblastoma cells with processes (chosen: foreground fraction 0.39, std 8.7)
    "A172": Morphology(area_median=1500, area_spread=0.55, elongation=1.8, elongation_spread=0.3,
                       irregularity=0.2, processes=(0, 3), process_length=0.8,
                       density_start=1.0, density_max=4.5, doubling_hours=40, clustering=0.45,
                       max_overlap=0.08, darkness=1.6, texture=31.4, halo=145.0, halo_sigma=1.3,
                       roundness=0.2, vertices=72),
    # epithelial clusters (measured: area 418 px, p10 183, p90 807; elongation 1.53; solidity 0.93;
    # 4.8 cells/1e4 px at 28 h and at 60 h)
    "BT474": Morphology(area_median=420, area_spread=0.55, elongation=1.5, elongation_spread=0.22,
                        irregularity=0.12, processes=(0, 0), process_length=0.0,
                        density_start=3.5, density_max=10.0, doubling_hours=60, clustering=0.85,
                        max_overlap=0.06, darkness=2.4, texture=39.8, halo=186.0, halo_sigma=1.0,
                        roundness=0.45),
    # small round microglia, dense and clumped, strong halos (chosen: std 18.8, p99 188)
    "BV2": Morphology(area_median=190, area_spread=0.35, elongation=1.2, elongation_spread=0.12,
                      irregularity=0.035, processes=(0, 1), process_length=0.8,
                      density_start=5.0, density_max=35.0, doubling_hours=24, clustering=0.75,
                      max_overlap=0.1, darkness=5.6, texture=62.0, halo=480.0, halo_sigma=1.1,
                      roundness=0.9),
    # polygonal cells in sheets (measured: area 972 px, p10 211, p90 2234; elongation 1.66;
    # solidity 0.94; 2.0 cells/1e4 px at 60 h)
    "Huh7": Morphology(area_median=1050, area_spread=0.65, elongation=1.6, elongation_spread=0.25,
                       irregularity=0.12, processes=(0, 0), process_length=0.0,
                       density_start=1.0, density_max=5.0, doubling_hours=40, clustering=0.8,
                       max_overlap=0.05, darkness=1.6, texture=31.4, halo=133.0, halo_sigma=1.1,
                       roundness=0.3),
    # epithelial clusters (measured: area 240 px, p10 137, p90 438; elongation 1.50; solidity 0.94;
    # 3.0 cells/1e4 px at 0 h, 19.4 at 64 h)
    "MCF7": Morphology(area_median=240, area_spread=0.45, elongation=1.5, elongation_spread=0.2,
                       irregularity=0.12, processes=(0, 0), process_length=0.0,
                       density_start=3.0, density_max=45.0, doubling_hours=21, clustering=0.85,
                       max_overlap=0.06, darkness=2.8, texture=48.0, halo=228.0, halo_sigma=1.0,
                       roundness=0.5),
    # small bodies with long thin neurites (chosen: foreground fraction 0.52, the sample's highest)
    "SHSY5Y": Morphology(area_median=260, area_spread=0.45, elongation=1.6, elongation_spread=0.25,
                         irregularity=0.1, processes=(1, 3), process_length=2.8,
                         density_start=3.5, density_max=16.0, doubling_hours=50, clustering=0.6,
                         max_overlap=0.1, darkness=2.4, texture=41.0, halo=186.0, halo_sigma=1.0,
                         roundness=0.55, vertices=96),
    # rounded cells with strong halos (chosen: p99 175, halo fraction 0.15, foreground fraction 0.50)
    "SkBr3": Morphology(area_median=330, area_spread=0.4, elongation=1.25, elongation_spread=0.15,
                        irregularity=0.045, processes=(0, 0), process_length=0.0,
                        density_start=4.0, density_max=20.0, doubling_hours=45, clustering=0.7,
                        max_overlap=0.06, darkness=4.0, texture=52.0, halo=331.0, halo_sigma=1.1,
                        roundness=0.85),
    # large spindle-shaped cells, low contrast (chosen: std 6.7, p01 106, foreground fraction 0.42)
    "SKOV3": Morphology(area_median=1000, area_spread=0.5, elongation=2.8, elongation_spread=0.3,
                        irregularity=0.1, processes=(0, 2), process_length=0.8,
                        density_start=1.3, density_max=6.0, doubling_hours=45, clustering=0.5,
                        max_overlap=0.08, darkness=1.2, texture=23.6, halo=103.0, halo_sigma=1.2,
                        roundness=0.2, vertices=64),
}


def sample_areas(morph: Morphology, n: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Log-normal cell areas (px) around ``morph.area_median * scale``, kept within 0.15x..5x the median."""
    med = morph.area_median * scale
    areas = med * np.exp(morph.area_spread * rng.standard_normal(n))
    return np.clip(areas, 0.15 * med, 5.0 * med)


def cell_outlines(morph: Morphology, areas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Star-shaped outlines centred on (0, 0), one per area: array (N, V, 2) of (x, y) vertices.

    Shape = unit circle with random low-order radial harmonics (irregularity), tapered spikes
    (processes / neurites), stretched to the sampled elongation, rotated at random and scaled so the
    polygon's shoelace area equals the requested area. A radius that is a positive function of the
    angle keeps every outline a simple polygon.
    """
    n, v = len(areas), morph.vertices
    theta = np.linspace(0.0, 2 * np.pi, v, endpoint=False)
    radius = np.ones((n, v))
    orders = np.arange(2, 10)
    amp = morph.irregularity * rng.standard_normal((n, len(orders))) / (orders - 1) ** 0.6
    phase = rng.uniform(0, 2 * np.pi, (n, len(orders)))
    radius += np.einsum("nk,nkv->nv", amp, np.cos(orders[None, :, None] * theta[None, None, :] + phase[:, :, None]))
    lo, hi = morph.processes
    if hi > 0:
        counts = rng.integers(lo, hi + 1, n)
        width = 2.2 * np.pi / v  # about two vertices wide at the base: a thin tapered process
        for k in range(int(counts.max(initial=0))):
            has = counts > k
            angle = rng.uniform(0, 2 * np.pi, n)
            length = morph.process_length * rng.uniform(0.5, 1.5, n) * has
            delta = np.angle(np.exp(1j * (theta[None, :] - angle[:, None])))
            radius += length[:, None] * np.exp(-0.5 * (delta / width) ** 2)
    radius = np.maximum(radius, 0.35)
    elong = np.maximum(morph.elongation * np.exp(morph.elongation_spread * rng.standard_normal(n)), 1.0)
    x = radius * np.cos(theta) * np.sqrt(elong)[:, None]
    y = radius * np.sin(theta) / np.sqrt(elong)[:, None]
    rot = rng.uniform(0, np.pi, n)
    c, s = np.cos(rot)[:, None], np.sin(rot)[:, None]
    xy = np.stack([c * x - s * y, s * x + c * y], axis=-1)
    shoelace = 0.5 * np.abs(np.sum(xy[..., 0] * np.roll(xy[..., 1], -1, axis=1)
                                   - xy[..., 1] * np.roll(xy[..., 0], -1, axis=1), axis=1))
    return xy * np.sqrt(areas / shoelace)[:, None, None]
