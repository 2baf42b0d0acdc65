"""Fit the width of :func:`xda.numerics.lapse_rate.model_relief` in the training world (needs ``.[simulate]``).

    JAX_PLATFORMS=cpu python benchmarks/fit_model_relief.py

The downscaling model's training simulation (:func:`xda.simulate.simulate_downscaling`, dinosaur
T63) runs on the spectrally filtered ETOPO20 orography of its 96 x 192 Gaussian grid. This script
builds that orography (no time step is taken) and prints, for Gaussian widths in grid cells, the
rms (cos-latitude weighted) difference between the smoothed ETOPO20 cell means and the model's
orography; :data:`xda.numerics.lapse_rate.MODEL_RELIEF_SIGMA` is the width with the least. No
evaluation data is read. About 10 s on 2 CPU cores.
"""

from __future__ import annotations

import sys

import numpy as np

from xda.labeled.static import surface_altitude
from xda.numerics.lapse_rate import MODEL_RELIEF_SIGMA, model_relief
from xda.simulate.core import _build_model, _gaussian_grid

WIDTHS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5)


def main() -> int:
    grid = _gaussian_grid(63)
    lat, lon = np.degrees(grid.latitudes), np.degrees(grid.longitudes)
    orog = surface_altitude(lat, lon)
    model = np.asarray(_build_model(truncation=63, surface_height=orog.T)["orography"], np.float64).T
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], orog.shape)
    rms = {s: float(np.sqrt(np.sum(w * (model_relief(orog, True, s) - model) ** 2) / w.sum())) for s in WIDTHS}
    print("| Gaussian width (cells) | rms difference from the T63 model orography (m) |\n|---|---|")
    for s, r in rms.items():
        print(f"| {s:g} | {r:.1f} |")
    best = min(rms, key=rms.get)
    print(f"\nleast at {best:g} cells; MODEL_RELIEF_SIGMA = {MODEL_RELIEF_SIGMA:g}")
    return 0 if abs(best - MODEL_RELIEF_SIGMA) < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
