"""Spread-skill and CRPS of the default members on a real flow-dependent case, with the recentred estimators.

    python benchmarks/evaluate_spread.py [--density 0.1] [--members 8] [--max-cases 20] [--steps 16]

The blizzard surface temperature (``storm`` of ``evaluate_oi.py``: background the analysis 24 h earlier),
a random ``density`` of the points observed with 1 K noise; ``assimilate(bg, obs, members=N)``
(the default B and model, recentred members) scored at the withheld points over all cases:
spread-skill (1 = consistent; :func:`xda.metrics.spread_skill_ratio`, which reads the members'
``xda_members_recentred``) and the fair CRPS, next to those of the same members scored with the
independent-draw formulas (what the scores said before issue 23) and of OI's Gaussian posterior
(``x_a``, ``<var>_standard_error``; exact CRPS). Writes benchmarks/results/spread.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.stats import norm

import xda

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_oi import persistence_cases, storm  # noqa: E402

warnings.filterwarnings("ignore")


def score_members(density: float, members: int, max_cases: int, steps: int | None = None, model: str | None = None):
    """Spread-skill and CRPS rows ``(name, spread-skill, CRPS)`` of the default members, the same members with the
    independent-draw formulas and OI's Gaussian posterior; and the last analysis' attrs and the withheld count."""
    kw = dict({} if steps is None else {"steps": steps}, **({} if model is None else {"model": model}))
    cases = list(persistence_cases(storm()))
    pick = np.linspace(0, len(cases) - 1, min(max_cases, len(cases))).round().astype(int)
    rng = np.random.default_rng(0)
    ens, truth, oi_mean, oi_sd = [], [], [], []
    for i in pick:
        tr, bg = cases[i][0], cases[i][1].rename("t")
        mask = rng.random(tr.shape) < density
        obs = tr.copy(data=np.where(mask, tr.values + rng.normal(0, 1.0, tr.shape), np.nan)).rename("t").assign_attrs(bg.attrs)
        an = xda.assimilate(bg, obs, obs_error=1.0, members=members, seed=int(i), **kw)
        oi = xda.assimilate(bg, obs, obs_error=1.0, method="oi")
        keep = ~mask.ravel()
        ens.append(an.values.reshape(members, -1)[:, keep])
        truth.append(tr.values.ravel()[keep])
        oi_mean.append(oi.values.ravel()[keep])
        oi_sd.append(oi["t_standard_error"].values.ravel()[keep])
    attrs = an.attrs
    e = xr.DataArray(np.concatenate(ens, axis=1), dims=("member", "x"), attrs=attrs)
    y = xr.DataArray(np.concatenate(truth), dims="x", attrs={"units": attrs.get("units", "K")})
    mu, sd = np.concatenate(oi_mean), np.concatenate(oi_sd)
    z = (y.values - mu) / sd
    crps_oi = float(np.mean(sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))))
    ssr_oi = float(np.sqrt(np.mean(sd**2)) / np.sqrt(np.mean((y.values - mu) ** 2)))
    rows = [("xda members, the metric's default estimators (recentred where the members say so)", xda.metrics.spread_skill_ratio(e, y),
             xda.metrics.crps(e, y)),
            ("the same members, independent-draw formulas", xda.metrics.spread_skill_ratio(e, y, recentred=False),
             xda.metrics.crps(e, y, recentred=False)),
            ("OI's Gaussian posterior (x_a, its standard error; exact CRPS)", ssr_oi, crps_oi)]
    return rows, attrs, y.size, len(pick)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--density", type=float, default=0.1)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--max-cases", type=int, default=20)
    p.add_argument("--steps", type=int, default=None, help="Heun steps of the sampler (default: assimilate's)")
    p.add_argument("--model", default=None, help="an anchored model's name or card (default: assimilate's); printed only")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows, attrs, n, n_cases = score_members(a.density, a.members, a.max_cases, a.steps, a.model)
    out = ["# Spread and CRPS of the default members on a real case", "",
           f"`python benchmarks/evaluate_spread.py {' '.join(argv or sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}, "
           f"{time.perf_counter() - t0:.0f} s): blizzard surface T, background 24 h old, {a.density:.0%} observed "
           f"(1 K noise), {n_cases} cases, {a.members} members, scored at the {n} withheld points. "
           f"Members recentred: `{attrs.get('xda_members_recentred')}` (else `{attrs.get('xda_members')}`); weight "
           f"{attrs.get('xda_correction_weight')} (last case); {attrs.get('xda_nfe')} network evaluations per analysis "
           "(last case).", "",
           "| ensemble | spread-skill | CRPS (K) |", "|---|---|---|"]
    out += [f"| {name} | {float(s):.3f} | {float(c):.3f} |" for name, s, c in rows]
    text = "\n".join(out) + "\n"
    print(text)
    if a.steps is None and a.model is None:
        (Path(__file__).parent / "results" / "spread.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
