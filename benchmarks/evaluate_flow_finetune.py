"""Flow-dependent real cases with the light fine-tuning path (issue 27): the blizzard's own archive.

    python benchmarks/evaluate_flow_finetune.py [--folds 3] [--minutes 3] [--leads 6 12 24] [--densities 0.02 0.1]

The cases of ``evaluate_flow.py`` for surface temperature ``t`` (persistence backgrounds of the
January 1996 blizzard, 6-24 h old; a random ``density`` of the grid points observed with 1 K
noise; RMSE at the withheld points, latitude-weighted). The truth times are cut into
``--folds`` contiguous blocks. For each block the shipped model is fine-tuned
(``xda.train(pairs, init=..., minutes=...)``) on the (background, truth) pairs of every lead
whose two times both lie more than 24 h outside the block, and the block's cases are analysed
by:

* ``OI, archive B``: ``BackgroundError.from_archive`` on the case's archive (the other pairs of
  the same lead more than a lead away: ``evaluate_flow.py``'s strongest classical answer, the
  reference of every ratio);
* ``anchored (shipped), archive B``: ``hs-t42-v2`` anchored on that OI, the default verified weight;
* ``fine-tuned, archive B``: the block's fine-tuned model anchored on that OI, verified weight;
* ``fine-tuned, its card's B``: the fine-tuned model as a user calls it (no ``background_error``:
  its card's archive B below 100 observations, else the empirical-Bayes B).

xda's empirical-Bayes prior is refitted leaving out every ``storm1996`` archive. A case's block
never trained the model that analyses it. Ratios of mean RMSE with 90 % paired-bootstrap
intervals over cases. Writes benchmarks/results/flow_finetune.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda
from xda.models import registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_flow as ef  # noqa: E402
import evaluate_oi as eo  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "flow_finetune.md"
GAP = np.timedelta64(24, "h")  # the longest lead: no training pair within it of a block's times


def training_pairs(t: xr.DataArray, block: np.ndarray, leads: list[int]) -> xr.Dataset:
    """(background, truth) pairs of every lead whose background and truth times are both more than :data:`GAP`
    outside ``block`` (a slice of ``t``'s times), along one sample dimension."""
    times = t["time"].values
    lo, hi = times[block].min() - GAP, times[block].max() + GAP
    bgs, truths = [], []
    for lead in leads:
        k = lead // 6
        for i in range(k, times.size):
            if not (lo <= times[i] <= hi or lo <= times[i - k] <= hi):
                bgs.append(t.isel(time=i - k).values)
                truths.append(t.isel(time=i).values)
    da = lambda a: xr.DataArray(np.asarray(a), dims=("sample", "lat", "lon"),  # noqa: E731
                                coords={"lat": t["lat"], "lon": t["lon"]}, attrs=t.attrs)
    return xr.Dataset({"background": da(bgs), "truth": da(truths)})


def score_case(truth, bg, arch_bg, arch_truth, ft: str, density: float, rng) -> dict:
    """{row: RMSE of t at the withheld points} for one case."""
    obs, masks = ef.observe(truth, density, rng)
    obs, bg = obs[["t"]], bg[["t"]]
    arch = xda.BackgroundError.from_archive(arch_bg["t"], arch_truth["t"], obs["t"], obs_error=1.0)
    run = lambda **kw: xda.assimilate(bg, obs, obs_error=1.0, seed=0, **kw)["t"]  # noqa: E731
    rows = {"OI, archive B": run(method="oi", background_error=arch),
            "anchored (shipped), archive B": run(background_error=arch),
            "fine-tuned, archive B": run(model=ft, background_error=arch),
            "fine-tuned, its card's B": run(model=ft)}
    keep = ~masks["t"]
    w = np.broadcast_to(np.cos(np.deg2rad(truth["lat"].values))[:, None], keep.shape)[keep]
    return {r: float(np.sqrt(np.sum(w * (a.transpose("lat", "lon").values - truth["t"].values)[keep] ** 2) / w.sum()))
            for r, a in rows.items()}


def table(scores: list[dict]) -> list[str]:
    """Rows: mean RMSE and the ratio to ``OI, archive B`` with its 90 % paired-bootstrap interval."""
    x = {r: np.array([s[r] for s in scores]) for r in scores[0]}
    lines = ["| method | mean RMSE (K) | x OI, archive B [90 %] |", "|---|---|---|"]
    for r, v in x.items():
        value, lo, hi = eo.bootstrap_ratio(v, x["OI, archive B"], (5, 95))
        lines.append(f"| {r} | {v.mean():.3f} | {value:.3f} [{lo:.3f}, {hi:.3f}] |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--cases", type=int, default=300, help="training cases per fine-tuning")
    p.add_argument("--leads", type=int, nargs="+", default=[6, 12, 24])
    p.add_argument("--densities", type=float, nargs="+", default=[0.02, 0.1])
    p.add_argument("--model", default=registry.DEFAULT_MODEL)
    a = p.parse_args()
    eo.use_prior_without(eo.prior_fits(), "storm1996")
    ds = ef.blizzard()
    wdir = Path(tempfile.mkdtemp())
    os.environ["XDA_WEIGHTS_DIR"] = str(wdir)
    blocks = np.array_split(np.arange(ds.sizes["time"]), a.folds)
    scores = {(lead, d): [] for lead in a.leads for d in a.densities}
    t0 = time.perf_counter()
    for g, block in enumerate(blocks):
        pairs = training_pairs(ds["t"], block, a.leads)
        ft = xda.train(pairs, init=a.model, minutes=a.minutes, cases=a.cases, out=wdir, name=f"flow-ft{g}").stem
        registry.clear_cache()
        print(f"block {g}: fine-tuned on {pairs.sizes['sample']} pairs, {time.perf_counter() - t0:.0f} s", flush=True)
        for lead in a.leads:
            for d in a.densities:
                rng = np.random.default_rng(1000 * g + 10 * lead + int(d * 100))
                for k, (truth, bg, arch_bg, arch_truth) in enumerate(ef.cases(ds, lead // 6)):
                    if k + lead // 6 in block:  # the case's truth time (persistence_cases counts from the lead)
                        scores[(lead, d)].append(score_case(truth, bg, arch_bg, arch_truth, ft, d, rng))
    out = ["# Flow-dependent real cases, fine-tuned on the blizzard's own archive", "",
           f"`python benchmarks/evaluate_flow_finetune.py {' '.join(sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}, "
           f"{time.perf_counter() - t0:.0f} s, 2 CPU cores): blizzard surface temperature, persistence backgrounds, "
           f"{a.folds} contiguous blocks of times, each analysed by a model fine-tuned {a.minutes} min on the pairs more "
           "than 24 h outside it. See the script's docstring.", ""]
    for (lead, d), s in scores.items():
        out += [f"## {lead} h persistence, {d:.0%} observed, {len(s)} cases", "", *table(s), ""]
    text = "\n".join(out) + "\n"
    print(text)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
