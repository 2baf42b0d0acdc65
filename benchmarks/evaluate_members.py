"""The default members of anchored models on OSSE and real cases: their calibration (issue 27, item 3).

    python benchmarks/evaluate_members.py --sim ~/.cache/xda/hs_t42_leads_s4.nc --models hs-t42-v2 CARD [--members 8]

For each model, the default call ``assimilate(bg, obs, members=M)`` (verified, default B),
scored at the unobserved points with :mod:`xda.metrics`' default estimators (recentred members
by the recentred ones, raw draws as an ordinary ensemble):

* ``RMSE`` of the estimate (``members=1``) over OI's;
* ``spread-skill`` (1: calibrated) and the fair ``CRPS``;
* ``ends``: the rank histogram's (:func:`xda.metrics.rank_histogram`) two end bins over their flat
  value ``2 / (M + 1)`` (1: flat; above 1: the truth too often outside the members);

Rows: the Held-Suarez OSSE test split of ``--sim`` (forecast backgrounds; z500 and tas at 1 % and
5 % observed, ``--times`` times each) and the blizzard's surface temperature (6 h persistence
backgrounds, 5 % observed, ``evaluate_flow.py``'s cases). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_assimilation as ea  # noqa: E402
import evaluate_flow as ef  # noqa: E402
import evaluate_oi as eo  # noqa: E402

warnings.filterwarnings("ignore")


def osse(sim: Path, var: str, times: int, density: float):
    """(truth, background, observations, obs error) of the OSSE test split."""
    rng = np.random.default_rng(1)
    for truth, bg, noise in ea.osse_cases(sim, var, times):
        mask = rng.random(truth.shape) < density
        yield truth, bg, (truth + rng.normal(0, noise, truth.shape)).where(mask).assign_attrs(truth.attrs), noise


def blizzard(n: int, density: float):
    """The same for the blizzard's t with 6 h persistence backgrounds (``evaluate_flow.py``'s observations)."""
    cases = list(ef.cases(ef.blizzard(), 1))
    rng = np.random.default_rng(0)
    for i in np.linspace(0, len(cases) - 1, min(n, len(cases))).round().astype(int):
        truth, bg = cases[i][0], cases[i][1]
        obs, _ = ef.observe(truth, density, rng)
        yield truth["t"], bg["t"], obs["t"].assign_attrs(truth["t"].attrs), ef.VARIABLES["t"]


def scores(cases, model: str, members: int) -> dict:
    """Pooled scores of one model over cases, at the unobserved points."""
    ens, est, oi, truths = [], [], [], []
    for k, (truth, bg, obs, noise) in enumerate(cases):
        ds = xr.Dataset({truth.name: bg}), xr.Dataset({truth.name: obs})
        run = lambda **kw: xda.assimilate(*ds, obs_error=noise, **kw)[truth.name]  # noqa: E731
        out = run(model=model, members=members, seed=k)
        keep = np.isnan(obs.values).ravel()
        ens.append(xr.DataArray(out.values.reshape(members, -1)[:, keep], dims=("member", "x"), attrs=out.attrs))
        est.append(run(model=model).values.ravel()[keep])
        oi.append(run(method="oi").values.ravel()[keep])
        truths.append(truth.values.ravel()[keep])
    e = xr.concat(ens, "x").assign_attrs(ens[0].attrs)
    y = xr.DataArray(np.concatenate(truths), dims="x", attrs={"units": e.attrs.get("units")})
    h = xda.metrics.rank_histogram(e, y).values
    rmse = lambda a: float(np.sqrt(np.mean((a - y.values) ** 2)))  # noqa: E731
    return {"rmse / OI": rmse(np.concatenate(est)) / rmse(np.concatenate(oi)),
            "spread-skill": float(xda.metrics.spread_skill_ratio(e, y)), "CRPS": float(xda.metrics.crps(e, y)),
            "ends": (h[0] + h[-1]) / (2 / (members + 1)),
            "members": "recentred" if "xda_members_recentred" in e.attrs else "raw"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", required=True)
    p.add_argument("--models", nargs="+", default=["hs-t42-v2"])
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--times", type=int, default=8, help="OSSE test times per row")
    p.add_argument("--cases", type=int, default=20, help="blizzard cases")
    a = p.parse_args()
    eo.use_prior_without(eo.prior_fits(), "storm1996")
    rows = [(f"OSSE {v} {d:.0%}", lambda v=v, d=d: osse(Path(a.sim).expanduser(), v, a.times, d))
            for v in ("z500", "tas") for d in (0.01, 0.05)] + [("blizzard t 5 %", lambda: blizzard(a.cases, 0.05))]
    t0 = time.perf_counter()
    lines = [f"`python benchmarks/evaluate_members.py --sim {Path(a.sim).name} --models {' '.join(a.models)} --members "
             f"{a.members} --times {a.times} --cases {a.cases}` ({time.strftime('%Y-%m-%d')}, 2 CPU cores)", "",
             "| cases | model | members | RMSE / OI | spread-skill | CRPS | rank ends / flat |", "|---|---|---|---|---|---|---|"]
    for label, make in rows:
        for model in a.models:
            s = scores(make(), model, a.members)
            lines.append(f"| {label} | `{Path(model).stem}` | {s['members']} | {s['rmse / OI']:.3f} | {s['spread-skill']:.3f} | "
                         f"{s['CRPS']:.4g} | {s['ends']:.2f} |")
            print(lines[-1], flush=True)
    lines.append(f"\n({time.perf_counter() - t0:.0f} s)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
