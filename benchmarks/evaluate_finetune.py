"""With an archive: B from it and the model fine-tuned on it, against the archive-cross-validated OI.

    python benchmarks/evaluate_finetune.py [--data ../shared/data] [--folds 5] [--minutes 3] [--densities 0.02 0.1]

NCEP DJF z500 over the North Atlantic (65 winters). The winters are split into ``--folds``
groups. For each group the archive is the *other* winters: pairs of (mean of the other
training winters, winter). On it the shipped model is fine-tuned
(``xda.train(pairs, init=..., minutes=...)``). Then every winter of the group is analysed
(background = mean of the other 64 winters; a random ``density`` of the points observed with
10 m noise; scored at the withheld points, latitude-weighted) by:

* ``reference archive OI``: the independent archive-CV OI of ``evaluate_oi.py`` on the fold's
  archive (the strongest classical answer; every ratio is against it);
* ``xda OI, from_archive B``: ``BackgroundError.from_archive`` on the same archive;
* ``xda default (shipped)``: the default call without an archive (empirical-Bayes B, the
  shipped model, verified weight);
* ``xda fine-tuned + archive B``: the fine-tuned model anchored on the OI with the archive's B
  (the default verification of the weight).

A winter is never in the archive its B or its model came from (grouped leave-out rather than
65 fine-tunings, to keep the run within an hour on 2 CPU cores). Writes
benchmarks/results/finetune.md.
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

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_oi import natl, reference_oi, summarise  # noqa: E402

warnings.filterwarnings("ignore")


def fold_archive(z: xr.DataArray, train_idx) -> tuple[xr.DataArray, xr.DataArray]:
    """(backgrounds, truths) of the training winters: each winter against the mean of the other training winters."""
    train = z.isel(time=train_idx)
    m = train.sizes["time"]
    return ((train.sum("time") - train) / (m - 1)).transpose(*train.dims).assign_attrs(z.attrs), train


def score_case(z, k, arch_bg, arch_truth, ft: str, density: float, rng) -> dict:
    truth = z.isel(time=k, drop=True)
    bg = z.drop_isel(time=k).mean("time").assign_attrs(z.attrs)
    mask = rng.random(truth.shape) < density
    y = truth.values + rng.normal(0, 10.0, truth.shape)
    obs = truth.copy(data=np.where(mask, y, np.nan)).assign_attrs(z.attrs)
    lat, lon = z["latitude"].values, z["longitude"].values
    err = (arch_bg - arch_truth).transpose("time", ...).values
    arch = xda.BackgroundError.from_archive(arch_bg, arch_truth, obs, obs_error=10.0)
    kw = dict(obs_error=10.0)
    preds = {"background": bg.values,
             "reference archive OI": reference_oi(bg.values, y[mask], mask, err, lat, lon, 10.0),
             "xda OI, from_archive B": xda.assimilate(bg, obs, method="oi", background_error=arch, **kw).values,
             "xda default (shipped)": xda.assimilate(bg, obs, **kw).values,
             "xda fine-tuned + archive B": xda.assimilate(bg, obs, model=ft, background_error=arch, **kw).values}
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], truth.shape)[~mask]
    return {name: float(np.sqrt(np.sum(w * (p - truth.values)[~mask] ** 2) / w.sum())) for name, p in preds.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--cases", type=int, default=300, help="training cases per fine-tuning")
    p.add_argument("--densities", type=float, nargs="+", default=[0.02, 0.1])
    p.add_argument("--model", default=registry.DEFAULT_MODEL)
    a = p.parse_args(argv)
    z = natl(a.data)
    n = z.sizes["time"]
    group = np.arange(n) % a.folds
    rows = {d: [] for d in a.densities}
    wdir = Path(tempfile.mkdtemp())
    os.environ["XDA_WEIGHTS_DIR"] = str(wdir)
    t0 = time.perf_counter()
    for g in range(a.folds):
        arch_bg, arch_truth = fold_archive(z, np.flatnonzero(group != g))
        pairs = xr.Dataset({"background": arch_bg, "truth": arch_truth})
        ft = xda.train(pairs, init=a.model, minutes=a.minutes, cases=a.cases, out=wdir, name=f"ft{g}").stem
        registry.clear_cache()
        print(f"fold {g}: fine-tuned on {arch_truth.sizes['time']} winters, {time.perf_counter() - t0:.0f} s", flush=True)
        for d in a.densities:
            rng = np.random.default_rng(1000 * g + int(d * 1000))
            rows[d] += [score_case(z, k, arch_bg, arch_truth, ft, d, rng) for k in np.flatnonzero(group == g)]
    out = ["# With an archive: its B and the model fine-tuned on it, against the archive-CV OI", "",
           f"`python benchmarks/evaluate_finetune.py {' '.join(argv or sys.argv[1:])}` ({time.strftime('%Y-%m-%d')}, "
           f"{time.perf_counter() - t0:.0f} s); NCEP DJF z500 N. Atlantic, 65 winters in {a.folds} held-out groups, "
           f"fine-tuned {a.minutes} min each; ratio of mean RMSE to the reference with a 95 % paired-bootstrap interval; "
           "p95 = 95th percentile of the per-case ratio.", ""]
    for d, r in rows.items():
        out += [f"## {d:.1%} observed, {len(r)} winters", "", "| method | mean RMSE | x ref [95 %] | p95 |",
                "|---|---|---|---|", *summarise(r), ""]
    text = "\n".join(out) + "\n"
    print(text)
    (Path(__file__).parent / "results" / "finetune.md").write_text(text)


if __name__ == "__main__":
    main()
