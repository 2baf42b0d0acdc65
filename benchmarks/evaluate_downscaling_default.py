"""The default ``downscale()`` (verified estimate) against its anchor and bicubic on real fields never trained on.

    python benchmarks/evaluate_downscaling_default.py

Cases of ``evaluate_downscaling.py`` (MPI-ESM 2005 monthly tas: the globe and three regions;
the 1996 blizzard's surface temperature), factors 2 and 4: the fine field is coarsened by block
means and downscaled back. Rows: conservative bicubic, the lapse-rate method (the anchor), the
learned regression, and the default call (anchor + w x learned departure, ``w`` verified one
level up on the input itself), with its mean weight. RMSE (K, latitude-weighted) and ratios to
the lapse-rate method and to bicubic; ``se/err`` is the rms of the default's
``<var>_standard_error`` over its actual rms error (1 = calibrated). The default relief
(``relief="auto"``, no ``orography=`` given) is the one a model resolves on its own grid; a second
table repeats the lapse-rate method and the default with ``relief="full"`` (the cell means, what
observations follow; every truth here is a model's own field or an analysis). Writes
benchmarks/results/downscaling_default.md.
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

warnings.filterwarnings("ignore")


def rmse(pred, truth) -> float:
    w = np.broadcast_to(np.cos(np.deg2rad(truth["lat"].values))[:, None], truth.shape[-2:])
    return float(np.sqrt(np.sum(w * (pred - truth.values) ** 2) / (np.sum(w) * truth.size / w.size)))


def score(data, factor: int, relief: str) -> dict:
    """RMSE of every method on one case and factor, the default's weight and se/err."""
    truth, coarse = data["tas"], xda.coarsen(data, factor)
    kw = dict(like=truth, relief=relief)
    r = {"bicubic": rmse(xda.downscale(coarse["tas"], factor, method="bicubic", like=truth).values, truth),
         "lapse_rate": rmse(xda.downscale(coarse["tas"], factor, method="lapse_rate", **kw).values, truth),
         "regression": rmse(xda.downscale(coarse, factor, method="regression", like=truth)["tas"].values, truth)}
    out = xda.downscale(coarse, factor, **kw)
    r["default"] = rmse(out["tas"].values, truth)
    r["w"] = out["tas"].attrs["xda_correction_weight"]
    r["se/err"] = float(np.sqrt(np.nanmean(out["tas_standard_error"].values ** 2))) / r["default"]
    return r


def table(cases: dict, relief: str) -> tuple[list, np.ndarray]:
    """Markdown rows and (default / lapse-rate, default / bicubic, lapse-rate / bicubic) per row."""
    lines = ["| case | factor | bicubic | lapse-rate (anchor) | regression | **default** | default / lapse | default / bicubic | "
             "w | se/err |", "|---|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    for label, data in cases.items():
        for factor in (2, 4):
            r = score(data, factor, relief)
            ratios.append((r["default"] / r["lapse_rate"], r["default"] / r["bicubic"], r["lapse_rate"] / r["bicubic"]))
            lines.append(f"| {label} | x{factor} | {r['bicubic']:.3f} | {r['lapse_rate']:.3f} | {r['regression']:.3f} | "
                         f"**{r['default']:.3f}** | {ratios[-1][0]:.3f} | {ratios[-1][1]:.3f} | {r['w']:.2f} | "
                         f"{r['se/err']:.2f} |")
            print(lines[-1], flush=True)
    return lines, np.array(ratios)


def summary(d: np.ndarray) -> str:
    return (f"Default / lapse-rate: worst {d[:, 0].max():.3f}, median {np.median(d[:, 0]):.3f}, <= 0.9 in "
            f"{int((d[:, 0] <= 0.9).sum())} of {len(d)}; default / bicubic: worst {d[:, 1].max():.3f}, median "
            f"{np.median(d[:, 1]):.3f}; lapse-rate / bicubic: median {np.median(d[:, 2]):.3f}.")


def main() -> int:
    cases = {**esm_cases(), "blizzard surface T": blizzard_case()}
    t0 = time.perf_counter()
    auto, d_auto = table(cases, "auto")
    full, d_full = table(cases, "full")
    text = "\n".join(["# The default downscaling on real fields: the verified estimate against its anchor", "",
                      f"`python benchmarks/evaluate_downscaling_default.py` ({time.strftime('%Y-%m-%d')}, "
                      f"{time.perf_counter() - t0:.0f} s, 2 CPU cores). RMSE in K.", "",
                      "## The default (`relief=\"auto\"`, no `orography=`: the lapse-rate correction follows the relief a "
                      "model resolves on its own grid)", "", summary(d_auto), "", *auto, "",
                      "## `relief=\"full\"`: the cell-mean relief (what observations follow; every truth here is a model's "
                      "field or an analysis)", "", "Bicubic and the regression do not depend on the relief. " + summary(d_full),
                      "", *full]) + "\n"
    (Path(__file__).parent / "results" / "downscaling_default.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
