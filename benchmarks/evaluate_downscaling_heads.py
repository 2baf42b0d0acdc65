"""Which is the better estimate: a downscaling model's head or its sampler's raw mean (issue 24, item 5)?

    python benchmarks/evaluate_downscaling_heads.py [--models hs-t63-ds-v1 hs-t63-ds-v2] [--members 16] [--sim FILE ...]

On the real cases of ``evaluate_downscaling.py`` (MPI-ESM 2005 tas, the globe and three regions)
and, with ``--sim``, the test split of Held-Suarez simulations, the first 4 times coarsened x2
and x4 and downscaled back onto the truth's coordinates: RMSE (K, latitude-unweighted) of each
model's estimate (``method="regression"``: the regression, plus the mean head where the model
has one) and of the raw mean of its ``--members`` samples (6 Heun steps, not recentred), and the
rms difference between the two. Prints a markdown table (used in
``benchmarks/results/downscaling_consistency.md``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path

import numpy as np

import xda
from xda.models import downscaling as dm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_downscaling import esm_cases, sim_cases  # noqa: E402

warnings.filterwarnings("ignore")
task = importlib.import_module("xda.tasks.downscale")


def _raw_members(problem, net, card, labels, sampling, gamma):
    """Stands in for the default's ``_verified``: the sampler's members as drawn, not recentred."""
    (c, f), _, (members, steps, seed) = problem, labels, sampling
    samples, gamma, _ = dm.downscale_arrays(c.t, c.lat, c.lon, f.lat, f.lon, f.orog, f.land, c.periodic, model=net,
                                            card=card, u_c=c.u, v_c=c.v, method="xda", members=members, steps=steps,
                                            seed=seed, gamma=gamma)
    return samples, gamma, None, {}


def rmse(a, b) -> float:
    return float(np.sqrt(np.nanmean((a - b) ** 2)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["hs-t63-ds-v1", "hs-t63-ds-v2"])
    p.add_argument("--members", type=int, default=16)
    p.add_argument("--sim", nargs="*", default=[])
    a = p.parse_args()
    cases = sim_cases(a.sim) if a.sim else {}
    cases.update(esm_cases())
    task._verified, dm.recentred_spread = _raw_members, lambda z: z
    head = "| case | factor | " + " | ".join(f"{m} estimate | {m} raw mean of {a.members} | gap" for m in a.models) + " |"
    print(head + "\n" + "|---" * (2 + 3 * len(a.models)) + "|")
    for label, data in cases.items():
        for factor in (2, 4):
            d = data.isel(time=slice(0, 4))
            truth, coarse, cells = d["tas"].values, xda.coarsen(d, factor), []
            for m in a.models:
                kw = dict(like=d["tas"], model=m)
                est = xda.downscale(coarse, factor, method="regression", **kw)["tas"].values
                mean = xda.downscale(coarse, factor, members=a.members, steps=6, seed=0, **kw)["tas"].mean("member").values
                cells += [f"{rmse(est, truth):.3f}", f"{rmse(mean, truth):.3f}", f"{rmse(mean, est):.3f}"]
            print(f"| {label} | x{factor} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
