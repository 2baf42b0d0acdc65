"""Fine-tuning the downscaling model on half of a real archive, scored on the other half (issue 24).

    python benchmarks/evaluate_downscaling_finetune.py [--minutes 4]

MPI-ESM 2005 monthly tas with its near-surface winds (T63), cut in two halves twice: by
time (the even months fine-tune, the odd months, the whole globe, are scored) and by region
(the eastern hemisphere, 0-180 E, fine-tunes, the western, all months, is scored). The
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
        out[f"relief, {label}"] = d.attrs["xda_relief"].split(":")[0].split(" (")[0]
    return out


SPLITS = {"months": ("the even months", "the odd months (globe)",
                     lambda ds: (ds.isel(time=slice(0, None, 2)), ds.isel(time=slice(1, None, 2)))),
          "regions": ("0-180 E", "180-360 E (all months)",
                      lambda ds: (ds.isel(lon=slice(0, ds.sizes["lon"] // 2)), ds.isel(lon=slice(ds.sizes["lon"] // 2, None))))}


def evaluate(ds: xr.Dataset, split: str, minutes: float) -> list:
    """Fine-tune on one half, score the other: markdown lines."""
    train_on, scored, cut = SPLITS[split]
    train, test = cut(ds)
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
        ref = lambda f: rows[f]["lapse_rate, " + rows[f][f"relief, {label}"].replace("cell means", "full relief")  # noqa: E731
                                 .replace("a model's", "model relief")]
        lines.append(f"| default, {label} / its lapse-rate method | " + " | ".join(
            f"**{rows[f][f'default, {label}'] / ref(f):.3f}** (w {rows[f][f'w, {label}']:.2f})" for f in rows) + " |")
    print("\n".join(lines), flush=True)
    return lines + [""]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=4.0)
    a = p.parse_args()
    ds = fields()
    t0 = time.perf_counter()
    lines = [line for split in SPLITS for line in evaluate(ds, split, a.minutes)]
    text = "\n".join([
        "# Fine-tuned on half of MPI-ESM 2005, scored on the other half", "",
        f"`python benchmarks/evaluate_downscaling_finetune.py --minutes {a.minutes:g}` ({time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - t0:.0f} s, 2 CPU cores). RMSE in K, latitude-weighted.", "", *lines])
    (Path(__file__).parent / "results" / "downscaling_finetune.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
