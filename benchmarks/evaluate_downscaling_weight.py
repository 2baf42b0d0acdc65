"""Does the weight verified one level up fit the target level? The default downscaling's weight against the oracle's.

    python benchmarks/evaluate_downscaling_weight.py

The default ``downscale()`` weights the learned departure ``c = R - A`` (regression minus the
lapse-rate anchor) by the slope of the anchor's residuals on ``c`` one level up, where the input
is the truth (``xda.tasks.downscale_verify``). Here, on the cases of ``evaluate_downscaling.py``
(MPI-ESM 2005 monthly tas, the globe and three regions; the blizzard's surface temperature), for
each factor and relief: the verified weight ``w`` and the *oracle* slope at the target level,
``a* = <T - A, c> / <c, c>`` over the fine cells with the truth ``T`` (area weights), which no
call can know. ``w`` well below ``a*`` means the skill one level up understates the skill at the
target (the default keeps less of the learned departure than it could); above ``2 a*`` the
default would be worse than its anchor. A second pair of columns compares the anchors with the
two reliefs at both levels: the ratio of their RMSE (model relief over full relief) at the
target and one level up (the input's block means downscaled back onto the input grid). Prints a
markdown table.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

import xda

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_downscaling import blizzard_case, esm_cases  # noqa: E402
from evaluate_downscaling_default import rmse  # noqa: E402

warnings.filterwarnings("ignore")


def oracle_slope(truth, anchor, regression) -> float:
    """Area-weighted least-squares slope of ``truth - anchor`` on ``regression - anchor``."""
    w = np.broadcast_to(np.cos(np.deg2rad(truth["lat"].values))[:, None], truth.shape[-2:])
    r, c = truth.values - anchor, regression - anchor
    return float(np.sum(w * r * c) / np.sum(w * c * c))


def relief_ratio(truth, coarse, factor: int) -> float:
    """RMSE of the lapse-rate anchor with the model relief over that with the full relief."""
    err = {r: rmse(xda.downscale(coarse["tas"], factor, method="lapse_rate", like=truth, relief=r).values, truth)
           for r in ("full", "model")}
    return err["model"] / err["full"]


def level_up_ratio(coarse) -> float:
    """:func:`relief_ratio` one level up (the input's 2 x 2 block means back onto the input grid); NaN if too small."""
    try:
        c2 = xda.coarsen(coarse, 2)
        return relief_ratio(coarse["tas"], c2, 2) if min(c2["tas"].shape[-2:]) >= 4 else np.nan
    except xda.errors.GridError:  # not a whole number of blocks, or too few
        return np.nan


def main() -> int:
    t0 = time.perf_counter()
    cases = dict(esm_cases(), **{"blizzard surface T": blizzard_case()})
    lines = ["| case | factor | relief | verified w | oracle a* | w / a* | model / full relief, target | one level up |",
             "|---|---|---|---|---|---|---|---|"]
    for label, data in cases.items():
        for factor in (2, 4):
            truth, coarse = data["tas"], xda.coarsen(data, factor)
            reg = xda.downscale(coarse, factor, method="regression", like=truth)["tas"].values
            ratios = f"{relief_ratio(truth, coarse, factor):.3f} | {level_up_ratio(coarse):.3f}"
            for relief in ("full", "model"):
                anchor = xda.downscale(coarse["tas"], factor, method="lapse_rate", like=truth, relief=relief).values
                w = xda.downscale(coarse, factor, like=truth, relief=relief)["tas"].attrs["xda_correction_weight"]
                a = oracle_slope(truth, anchor, reg)
                lines.append(f"| {label} | x{factor} | {relief} | {w:.2f} | {a:.2f} | {w / a if a > 0 else np.nan:.2f} | "
                             f"{ratios if relief == 'full' else ''} |")
                print(lines[-1], flush=True)
    print(f"\n`python benchmarks/evaluate_downscaling_weight.py` ({time.strftime('%Y-%m-%d')}, "
          f"{time.perf_counter() - t0:.0f} s, 2 CPU cores)\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
