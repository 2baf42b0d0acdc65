"""Fit :data:`xda.tasks.downscale_verify.STANDARD_ERROR_SCALE` in the training world.

    python benchmarks/fit_standard_error.py [--sim ~/.cache/xda/hs_t63_ls_s0.nc] [--check ~/.cache/xda/hs_t63_ls_s2.nc]

The default ``downscale`` states a standard error: the error of its estimate one level up (the
input's block means downscaled back onto the input), extrapolated to the target's level. That
extrapolation is an upper estimate. This script downscales the held-out test split of the
model's training simulation (``xda simulate --kind downscaling``; the globe and North America,
x2 / x3 / x4, 16 times) with the scale set to 1, and prints the actual RMSE over the stated one
per row and their median, the constant to use. ``--check`` repeats it on another seed (never
fitted on). No evaluation data is read. About 30 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

import xda
from xda.tasks import downscale_verify

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_downscaling import sim_cases  # noqa: E402
from evaluate_downscaling_default import rmse  # noqa: E402

warnings.filterwarnings("ignore")


def ratios(path: str, times: int = 16) -> list[float]:
    """Actual / stated RMSE of the default on the test split of ``path``, per case and factor (printed)."""
    out = []
    for label, data in sim_cases([path]).items():
        data = data.isel(time=slice(0, times))
        for f in (2, 3, 4):
            res = xda.downscale(xda.coarsen(data, f), f, like=data["tas"])
            stated = float(np.sqrt(np.nanmean(res["tas_standard_error"].values ** 2)))
            actual = rmse(res["tas"].values, data["tas"])
            if np.isfinite(stated):
                out.append(actual / stated)
            print(f"| {Path(path).name} | {label} | x{f} | {actual:.3f} | {stated:.3f} | {actual / stated:.2f} |", flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", default="~/.cache/xda/hs_t63_ls_s0.nc")
    p.add_argument("--check", default=None)
    a = p.parse_args()
    downscale_verify.STANDARD_ERROR_SCALE = 1.0  # the raw extrapolation
    print("| simulation | case | factor | actual RMSE (K) | stated, unscaled (K) | actual / stated |\n|---|---|---|---|---|---|")
    fit = ratios(str(Path(a.sim).expanduser()))
    print(f"\nmedian actual / stated on {Path(a.sim).name}: {np.median(fit):.2f} (the constant)")
    if a.check:
        check = ratios(str(Path(a.check).expanduser()))
        print(f"median on {Path(a.check).name} (not fitted): {np.median(check):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
