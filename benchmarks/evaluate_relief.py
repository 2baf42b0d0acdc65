"""Which relief the lapse-rate correction should follow when the fine truth is unknown (``relief=``).

    python benchmarks/evaluate_relief.py

The cases of ``evaluate_downscaling.py`` (MPI-ESM 2005 monthly tas, the globe and three
regions; the 1996 blizzard's surface temperature), factors 2 and 4, fine field coarsened by
block means and downscaled back with ``method="lapse_rate"`` following the cell-mean relief
(``"full"``) or a model's (``"model"``), scored against two truths:

* the real field (a climate model's own field, or an analysis);
* an observation-like truth: the real field plus ``-6.5 K/km`` times the grid-scale relief a
  model smooths away (``z - model_relief(z)``, ETOPO20 cell means), i.e. a field that follows
  the full relief at the standard lapse rate.

RMSE in K (latitude-weighted); the ratio model / full is the cost (> 1) or gain (< 1) of the
model's relief. ``input fit``: the mixture ``model + a (full - model)`` of the two reliefs, ``a``
in 0, 0.1, ..., 1, whose coarse block means best explain the input's local anomalies (per-field
lapse rates; what a choice made on the input alone would pick: 0 = the model's relief, 1 = the
full). Writes benchmarks/results/relief.md.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

import xda
from xda.numerics.lapse_rate import STANDARD_LAPSE_RATE, model_relief

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_downscaling import blizzard_case, esm_cases  # noqa: E402
from evaluate_downscaling_default import rmse  # noqa: E402

warnings.filterwarnings("ignore")


def observation_like(truth):
    """``truth`` plus the standard lapse rate times the relief detail a model's grid smooths away."""
    z = xda.static.surface_altitude(truth["lat"].values, truth["lon"].values)
    detail = z - model_relief(z, "globe" in str(truth.attrs.get("case", "")))
    return truth + STANDARD_LAPSE_RATE * detail


def input_fit(truth, factor: int) -> float:
    """The mixture weight ``a`` (0 a model's relief, 1 the cell means) whose block means best explain the coarse
    input's 3 x 3 local anomalies, with a lapse rate per field (least squares)."""
    from xda.numerics import regrid
    from xda.numerics.lapse_rate import local_anomaly

    t = truth.transpose(..., "lat", "lon").sortby("lat")
    lat, lon = t["lat"].values, t["lon"].values
    ny, nx = lat.size // factor * factor, lon.size // factor * factor
    periodic = "globe" in str(truth.attrs.get("case", "")) and nx == lon.size
    z = xda.static.surface_altitude(lat[:ny], lon[:nx])
    zm = model_relief(z, periodic)
    t_c = regrid.coarsen(t.values[..., :ny, :nx].astype(float), factor, lat[:ny])
    tz = local_anomaly(t_c, periodic)
    residual = []
    for a in np.linspace(0, 1, 11):
        zz = local_anomaly(regrid.coarsen(zm + a * (z - zm), factor, lat[:ny]), periodic)
        g = np.sum(tz * zz, axis=(-2, -1), keepdims=True) / np.sum(zz * zz)
        residual.append(float(np.sum((tz - g * zz) ** 2)))
    return float(np.argmin(residual)) / 10


def row(label: str, truth, factor: int) -> tuple[str, float, float]:
    """A markdown row and the ratio model / full for the real and the observation-like truth."""
    out, ratios = [], []
    for t in (truth, observation_like(truth)):
        coarse = xda.coarsen(t, factor)
        r = {relief: rmse(xda.downscale(coarse, factor, method="lapse_rate", relief=relief, like=t).values, t)
             for relief in ("full", "model")}
        bicubic = rmse(xda.downscale(coarse, factor, method="bicubic", like=t).values, t)
        ratios.append(r["model"] / r["full"])
        out += [f"{bicubic:.3f}", f"{r['full']:.3f}", f"{r['model']:.3f}", f"**{ratios[-1]:.3f}**",
                f"{input_fit(t.assign_attrs(truth.attrs), factor):.1f}"]
    return f"| {label} | x{factor} | " + " | ".join(out) + " |", ratios[0], ratios[1]


def main() -> int:
    cases = {**esm_cases(), "blizzard surface T": blizzard_case()}
    t0 = time.perf_counter()
    lines = ["| case | factor | bicubic | full | model | model / full | input fit | bicubic | full | model | model / full | "
             "input fit |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    real, obs = [], []
    for label, data in cases.items():
        truth = data["tas"].assign_attrs(case=label)
        for factor in (2, 4):
            line, a, b = row(label, truth, factor)
            lines.append(line)
            real.append(a)
            obs.append(b)
            print(line, flush=True)
    real, obs = np.array(real), np.array(obs)
    text = "\n".join([
        "# The relief of the lapse-rate correction when the fine truth is unknown", "",
        f"`python benchmarks/evaluate_relief.py` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s, "
        "2 CPU cores). RMSE in K of `method=\"lapse_rate\"`. Left: against the real field (a climate model's, or an "
        "analysis). Right: against an observation-like truth, the real field plus -6.5 K/km x the grid-scale relief "
        "a model smooths away.", "",
        f"Model / full against the real fields: median {np.median(real):.3f}, range {real.min():.3f}-{real.max():.3f}; "
        f"against the observation-like truth: median {np.median(obs):.3f}, range {obs.min():.3f}-{obs.max():.3f}.", "",
        "| | | real truth | | | | | observation-like truth | | | | |", *lines]) + "\n"
    (Path(__file__).parent / "results" / "relief.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
