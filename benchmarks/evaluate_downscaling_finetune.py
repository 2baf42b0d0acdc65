"""Fine-tuning the downscaling model on half of a real archive, scored on the other half (issue 24).

    python benchmarks/evaluate_downscaling_finetune.py [--minutes 4] [--split months|seasons|regions|blizzard ...]

(``--split blizzard`` writes ``results/downscaling_finetune_blizzard.md``; ``--split seasons``, the
months cut into two contiguous halves instead of alternating ones, ``..._seasons.md``.)

MPI-ESM 2005 monthly tas with its near-surface winds (T63), cut in two halves twice: by
time (the even months fine-tune, the odd months, the whole globe, are scored) and by region
(the eastern hemisphere, 0-180 E, fine-tunes, the western, all months, is scored); and the 1996
blizzard's 6-hourly surface temperature and winds on a 1.25 x 2.5 degree grid, finer than the
model was pretrained for (its first 8 days fine-tune, its last 8 are scored). The
fine-tuning is ``hs-t63-ds-v2`` through ``xda.train(fields, task="downscaling", minutes=...)``,
which also fits the relief the fields follow on its training half; the scored half is
coarsened x2 / x3 / x4 by block means and downscaled back. Rows: conservative bicubic, the
lapse-rate method with either relief, the shipped and the fine-tuned regression, and the
default call of each (verified one level up; its relief ``"auto"``: a model's for the shipped
model, the card's for the fine-tuned one). RMSE in K (latitude-weighted); ratios to the
lapse-rate method with the relief the default follows. Writes
benchmarks/results/downscaling_finetune.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_downscaling_default import rmse  # noqa: E402

warnings.filterwarnings("ignore")


def fields() -> xr.Dataset:
    t = xr.merge([xda.datasets.open_dataset(f"esm_{v}")[[v]] for v in ("tas", "uas", "vas")])
    return t.drop_vars(["lat_bnds", "lon_bnds", "time_bnds"], errors="ignore")


def scores(truth: xr.Dataset, factor: int, ft: str) -> dict:
    """RMSE (K) of every row on the held-out months at one factor, and the defaults' weights."""
    truth = truth.isel(lat=slice(0, truth.sizes["lat"] // factor * factor),
                       lon=slice(0, truth.sizes["lon"] // factor * factor))  # whole blocks
    coarse = xda.coarsen(truth, factor)
    t = truth["tas"]
    one = lambda **kw: rmse(xda.downscale(coarse, factor, like=t, **kw)["tas"].values, t)  # noqa: E731
    out = {"bicubic": one(method="bicubic"), "lapse_rate, full relief": one(method="lapse_rate", relief="full"),
           "lapse_rate, model relief": one(method="lapse_rate", relief="model"),
           "regression, shipped": one(method="regression"), "regression, fine-tuned": one(method="regression", model=ft)}
    for label, model in (("shipped", xda.models.cards.DEFAULT_DOWNSCALING_MODEL), ("fine-tuned", ft)):
        d = xda.downscale(coarse, factor, like=t, model=model)["tas"]
        out[f"default, {label}"] = rmse(d.values, t)
        out[f"w, {label}"] = d.attrs["xda_correction_weight"]
        out[f"relief, {label}"] = "model relief" if d.attrs["xda_relief"].startswith("a model's") else "full relief"
    return out


def blizzard() -> xr.Dataset:
    """The 1996 blizzard's surface temperature and 10-m winds, 6-hourly, on the NaN-free block of
    ``evaluate_downscaling.blizzard_case`` (28 x 24 cells of 1.25 x 2.5 degrees), every time all three are defined there."""
    t = xr.merge([xda.datasets.open_dataset(f"storm1996_{v}")[[v]] for v in ("t", "u", "v")]).rename(t="tas", u="uas", v="vas")
    t = t.isel(lat=slice(4, 32), lon=slice(6, 30))
    return t.isel(time=np.flatnonzero(np.all([np.isfinite(t[v].values).all(axis=(1, 2)) for v in t.data_vars], axis=0)))


def halves(ds: xr.Dataset, dim: str, alternate: bool = False) -> tuple:
    n = ds.sizes[dim]
    if alternate:
        return ds.isel({dim: slice(0, None, 2)}), ds.isel({dim: slice(1, None, 2)})
    return ds.isel({dim: slice(0, n // 2)}), ds.isel({dim: slice(n // 2, None)})


#: split: (data, what fine-tunes, what is scored, the cut)
SPLITS = {"months": (fields, "the even months", "the odd months (globe)", lambda ds: halves(ds, "time", True)),
          "seasons": (fields, "January-June", "July-December (globe; the other half of the year)",
                      lambda ds: halves(ds, "time")),
          "regions": (fields, "0-180 E", "180-360 E (all months)", lambda ds: halves(ds, "lon")),
          "blizzard": (blizzard, "the blizzard's first 8 days (6-hourly, a grid finer than the model was pretrained for)",
                       "its last 8 days", lambda ds: halves(ds, "time"))}


DEFAULT_SPLITS = ("months", "regions")


def evaluate(split: str, minutes: float) -> list:
    """Fine-tune on one half, score the other: markdown lines."""
    data, train_on, scored, cut = SPLITS[split]
    train, test = cut(data())
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDA_WEIGHTS_DIR"] = tmp
        path = xda.train(train, task="downscaling", minutes=minutes, name=f"esm-{split}-ft")
        ft = json.loads(path.with_suffix(".json").read_text())["finetune"]
        rows = {f: scores(test, f, f"esm-{split}-ft") for f in (2, 3, 4)}
    lines = [f"## Fine-tuned on {train_on}, scored on {scored}", "",
             f"{time.perf_counter() - t0:.0f} s. The relief fitted on the training half: **{ft['relief']}** "
             f"(lapse-rate RMSE there, K: {ft['train_lapse_rate_rmse_K']}).", "", "| method | x2 | x3 | x4 |", "|---|---|---|---|"]
    for key in [k for k in rows[2] if not k.startswith(("w,", "relief,"))]:
        lines.append(f"| {key} | " + " | ".join(f"{rows[f][key]:.3f}" for f in rows) + " |")
    for label in ("shipped", "fine-tuned"):
        ref = lambda f: rows[f]["lapse_rate, " + rows[f][f"relief, {label}"]]  # noqa: E731
        lines.append(f"| default, {label} / its lapse-rate method | " + " | ".join(
            f"**{rows[f][f'default, {label}'] / ref(f):.3f}** (w {rows[f][f'w, {label}']:.2f})" for f in rows) + " |")
    print("\n".join(lines), flush=True)
    return lines + [""]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--split", action="append", choices=list(SPLITS), default=None,
                   help="default: months and regions (results/downscaling_finetune.md); others write "
                        "results/downscaling_finetune_<splits>.md")
    a = p.parse_args()
    splits = a.split or list(DEFAULT_SPLITS)
    t0 = time.perf_counter()
    lines = [line for split in splits for line in evaluate(split, a.minutes)]
    text = "\n".join([
        "# Fine-tuned on half of a real archive, scored on the other half", "",
        f"`python benchmarks/evaluate_downscaling_finetune.py --minutes {a.minutes:g}"
        f"{''.join(' --split ' + k for k in a.split or [])}` ({time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - t0:.0f} s, 2 CPU cores). RMSE in K, latitude-weighted.", "", *lines])
    suffix = "" if splits == list(DEFAULT_SPLITS) else "_" + "_".join(splits)
    (Path(__file__).parent / "results" / f"downscaling_finetune{suffix}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
