"""Fine-tuning on your own archive: NCEP DJF z500 over the North Atlantic, winters held out.

    python benchmarks/evaluate_finetune.py [--data ../shared/data] [--folds 5] [--minutes 3]

The 65 winters are split into ``--folds`` groups. For each group, the shipped model is
fine-tuned (``xda.train(pairs, init=..., minutes=...)``) on the *other* winters only:
pairs of (mean of the other training winters, winter). Then every winter of the group is
analysed as in ``evaluate_assimilation.py`` (background = mean of the other 64 winters,
2 % of points observed with 10 m noise, scored at the withheld points) by the tuned OI,
OI with the archive's own B (``BackgroundError.from_pairs``, latitude profile: what a
user with the archive gets classically, and what the fine-tuned card carries), the
shipped model and the fine-tuned one. A winter is never in the archive its model
was fine-tuned on (grouped leave-out rather than 65 separate fine-tunings, to keep the
run under an hour on 2 CPU cores). Writes benchmarks/results/finetune.md.
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
import pandas as pd
import xarray as xr

import xda
from xda.labeled.grid import latitude_weights
from xda.models import registry

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_assimilation import Scores, djf  # noqa: E402

warnings.filterwarnings("ignore", message="QC rejected")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--model", default=registry.DEFAULT_MODEL)
    a = p.parse_args(argv)
    z = djf(Path(a.data))
    n = z.sizes["time"]
    group = np.arange(n) % a.folds
    rng = np.random.default_rng(0)
    masks = [rng.random(z.shape[1:]) < 0.02 for _ in range(n)]
    noise = [rng.normal(0, 10.0, z.shape[1:]) for _ in range(n)]
    w_lat = latitude_weights(z["latitude"].values)
    scores, t0 = Scores(), time.perf_counter()
    wdir = Path(tempfile.mkdtemp())
    os.environ["XDA_WEIGHTS_DIR"] = str(wdir)
    for g in range(a.folds):
        train = z.isel(time=np.flatnonzero(group != g))
        m = train.sizes["time"]
        pairs = xr.Dataset({"background": ((train.sum("time") - train) / (m - 1)).transpose(*train.dims).assign_attrs(z.attrs),
                            "truth": train})
        ft = xda.train(pairs, init=a.model, minutes=a.minutes, cases=a.cases, out=wdir, name=f"ft{g}").stem
        archive_b = xda.BackgroundError.from_pairs(pairs["background"], pairs["truth"], dim="time", per_point=False)
        registry.clear_cache()
        print(f"fold {g}: fine-tuned on {m} winters, {time.perf_counter() - t0:.0f} s", flush=True)
        for k in np.flatnonzero(group == g):
            truth = z.isel(time=k, drop=True)
            bg = z.drop_isel(time=k).mean("time").assign_attrs(z.attrs)
            mask = masks[k]
            obs = (truth + noise[k]).where(mask).assign_attrs(z.attrs)
            kw = dict(obs_error=10.0)
            preds = {"background": bg, "OI tuned": xda.assimilate(bg, obs, method="oi", **kw),
                     "OI, archive B": xda.assimilate(bg, obs, method="oi", background_error=archive_b, **kw),
                     "xda": xda.assimilate(bg, obs, model=a.model, **kw),
                     "xda fine-tuned": xda.assimilate(bg, obs, model=ft, **kw)}
            w = np.broadcast_to(w_lat[:, None], truth.shape)[~mask]
            scores.add_case({name: np.asarray(f)[~mask] for name, f in preds.items()}, truth.values[~mask], w)
    rows = scores.rows(f"NCEP DJF z500 N. Atlantic, 2 % obs, 65 winters in {a.folds} held-out groups, fine-tuned {a.minutes} min")
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g")
    print(table)
    out = Path(__file__).parent / "results" / "finetune.md"
    out.write_text(f"Command: `python benchmarks/evaluate_finetune.py {' '.join(argv or sys.argv[1:])}`\n\n{table}\n")


if __name__ == "__main__":
    main()
