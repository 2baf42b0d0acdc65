"""Assimilation scores: background, OI (before issue 9 and tuned) and xda, on the same cases.

    python benchmarks/evaluate_assimilation.py --sim ~/.cache/xda/hs_t42_leads_s0.nc [--data ../shared/data]

Rows per case set (scores at points that were not assimilated; latitude-weighted on grids):

* ``background``;
* ``OI, before #9``: the statistics the shipped default chose before issue 9
  (Hollingsworth-Lonnberg from one field's innovations with >= 100 observations, else the
  model card's);
* ``OI tuned``: today's ``method="oi"`` default (latitude profile, L and inflation by
  leave-one-out cross-validation);
* ``xda``: today's default, the posterior-mean head of the anchored model (one network
  evaluation on top of the tuned OI);
* ``xda mean of M``: the mean of ``M`` posterior samples.

``x OI`` is the RMSE over the tuned OI's, with a paired-bootstrap 90 % interval over the
cases (2000 resamples). ``spread/skill``: ``sqrt((M+1)/M)`` x the rms ensemble spread over
the rms error of the ensemble mean (1 = reliable). ``obs fit``: rms of ``(y - H x)/s_o``
of single members at assimilated points (1 for an exact posterior sample).

Case sets:

1. Held-Suarez OSSE, test split, forecast backgrounds (leads 6-72 h): 0.5, 1, 2, 5, 10 %
   of grid points observed (z500 10 m, tas 0.5 K noise).
2. NCEP DJF-mean z500, North Atlantic 2.5 deg, 65 winters, leave-one-winter-out
   (background = mean of the other winters), 2 % observed with 10 m noise.
3. NCEP monthly z500, global 2.5 deg, 21 fields, leave-one-field-out, 2 %.
4. SAO station temperatures, 1995-03-18 18 UTC: background MPI-ESM March tas (T63)
   shifted by the assimilated stations' median innovation, 10-fold cross-validation.

Writes benchmarks/results/assimilation.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import xda
from xda.labeled.grid import latitude_weights
from xda.numerics.interp import apply, bilinear_weights

warnings.filterwarnings("ignore", message="QC rejected")
OBS_NOISE = {"z500": 10.0, "tas": 0.5}


class Scores:
    """Per-case sums of weighted squared errors per method, for RMSE and paired bootstrap."""

    def __init__(self):
        self.sse, self.w, self.extra = {}, [], {}

    def add_case(self, preds: dict, truth, weights):
        for m, p in preds.items():
            self.sse.setdefault(m, []).append(float(np.sum(weights * (p - truth) ** 2)))
        self.w.append(float(np.sum(weights)))

    def note(self, key, value):
        self.extra.setdefault(key, []).append(value)

    def rows(self, label: str, ref: str = "OI tuned", seed: int = 0) -> list[dict]:
        w = np.asarray(self.w)
        rng = np.random.default_rng(seed)
        boot = rng.integers(len(w), size=(2000, len(w)))
        r0 = np.asarray(self.sse[ref])
        out = []
        for m, sse in self.sse.items():
            sse = np.asarray(sse)
            ratio = np.sqrt(sse.sum() / r0.sum())
            lo, hi = np.percentile(np.sqrt(sse[boot].sum(1) / r0[boot].sum(1)), [5, 95])
            row = dict(case=label, method=m, rmse=np.sqrt(sse.sum() / w.sum()), x_oi=ratio, ci90=f"{lo:.2f}-{hi:.2f}")
            if m.startswith("xda mean") and "spread2" in self.extra:
                mem = self.extra["members"][0]
                row["spread/skill"] = np.sqrt((mem + 1) / mem * np.sum(self.extra["spread2"]) / sse.sum())
                row["obs fit"] = np.sqrt(np.mean(self.extra["fit2"]))
            if m == "xda" and "seconds" in self.extra:
                row["s/analysis"] = np.median(self.extra["seconds"])
            out.append(row)
        return out


def analyses(bg, obs, scores: Scores, members: int, seed: int, obs_error: float, old_b: str, points=None, steps=16):
    """Predictions of every method; ``points``: a function field -> values at the scored points."""
    kw = dict(obs_error=obs_error)
    preds = {"background": bg, "OI, before #9": xda.assimilate(bg, obs, method="oi", background_error=old_b, **kw),
             "OI tuned": xda.assimilate(bg, obs, method="oi", **kw)}
    t0 = time.perf_counter()
    preds["xda"] = xda.assimilate(bg, obs, **kw)
    scores.note("seconds", time.perf_counter() - t0)
    if members > 1:
        ens = xda.assimilate(bg, obs, members=members, seed=seed, steps=steps, **kw)
        preds[f"xda mean of {members}"] = ens.mean("member")
        scores.note("members", members)
        spread = ens.var("member", ddof=1)
        return preds, ens, spread
    return preds, None, None


def _field(a):
    return a.values if isinstance(a, xr.DataArray) else a


def gridded_set(label, cases, scores: Scores, members: int, density: float, seed: int, old_b):
    """Cases (truth, background, obs noise) on a grid: observe ``density`` of the points, score the others."""
    rng = np.random.default_rng(seed)
    for k, (truth, bg, noise) in enumerate(cases):
        mask = rng.random(truth.shape) < density
        obs = (truth + rng.normal(0, noise, truth.shape)).where(mask).assign_attrs(truth.attrs)
        lat = truth[truth.cf["latitude"].name].values
        w = np.broadcast_to(latitude_weights(lat)[:, None], truth.shape)[~mask]
        b = old_b(int(mask.sum()))
        preds, ens, spread = analyses(bg, obs, scores, members, seed + k, noise, b)
        scores.add_case({m: _field(p)[~mask] for m, p in preds.items()}, truth.values[~mask], w)
        if ens is not None:
            scores.note("spread2", float(np.sum(w * spread.values[~mask])))
            fit = (_field(ens.isel(member=0))[mask] - obs.values[mask]) / noise
            scores.note("fit2", float(np.mean(fit**2)))
    return scores


def osse_cases(sim: Path, var: str, n: int):
    ds = xr.open_dataset(sim)
    test = np.flatnonzero(ds["split"].values == "test")
    for t in test[np.linspace(0, test.size - 1, n).astype(int)]:
        truth = ds[f"{var}_truth"].isel(time=t, drop=True).rename(var)
        yield truth, ds[f"{var}_background"].isel(time=t, drop=True).rename(var).assign_attrs(truth.attrs), OBS_NOISE[var]


def climatology_cases(z: xr.DataArray):
    for k in range(z.sizes["time"]):
        truth = z.isel(time=k, drop=True)
        yield truth, z.drop_isel(time=k).mean("time").assign_attrs(z.attrs), 10.0


def djf(data: Path) -> xr.DataArray:
    ds = xr.open_dataset(data / "ncep_z500_djf_natl.nc")
    return ds["z"].isel(pressure=0, drop=True).rename("z500").assign_attrs(units="m", standard_name="geopotential_height")


def old_default(n_obs: int) -> str:
    return "innovations" if n_obs >= 100 else "model"


def sao(scores: Scores, members: int, hour=18, seed=0):
    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["hour"] == hour, drop=True)
    df = pd.DataFrame({"station": s["station"].values, "lat": s["lat"].values, "lon": s["lon"].values, "t": s["T"].values})
    df = df.dropna().drop_duplicates("station").reset_index(drop=True)
    esm = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=2, drop=True)  # March 2005 monthly mean
    bg0 = esm.sel(lat=slice(15, 65), lon=slice(225, 300))
    op, inside = bilinear_weights(bg0["lat"].values, bg0["lon"].values, df["lat"].values, df["lon"].values, periodic=False)
    df = df[inside].reset_index(drop=True)
    t_k = df["t"].values + 273.15
    folds = np.random.default_rng(seed).permutation(len(df)) % 10
    for f in range(10):
        train, test = folds != f, folds == f
        bg = (bg0 + np.median(t_k[train] - apply(op, bg0.values)[train])).assign_attrs(esm.attrs).rename("tas")
        obs = df[train][["lat", "lon", "t"]].rename(columns={"t": "tas"})
        obs.attrs["units"] = {"tas": "degC"}
        preds, ens, spread = analyses(bg, obs, scores, members, seed + f, 1.5, "innovations")
        op_t, _ = bilinear_weights(bg0["lat"].values, bg0["lon"].values, df["lat"].values[test], df["lon"].values[test], periodic=False)
        at = {m: apply(op_t, _field(p)) for m, p in preds.items()}
        d = t_k[test] - at["background"]
        keep = np.abs(d - np.median(d)) < 5 * 1.4826 * np.median(np.abs(d - np.median(d))) + 1e-9
        scores.add_case({m: v[keep] for m, v in at.items()}, t_k[test][keep], np.ones(int(keep.sum())))
        if ens is not None:
            scores.note("spread2", float(np.sum(apply(op_t, spread.values)[keep])))
            op_a, _ = bilinear_weights(bg0["lat"].values, bg0["lon"].values, df["lat"].values[train], df["lon"].values[train], periodic=False)
            scores.note("fit2", float(np.mean(((apply(op_a, _field(ens.isel(member=0))) - t_k[train]) / 1.5) ** 2)))
    return scores


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", default="~/.cache/xda/hs_t42_leads_s0.nc")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--n-times", type=int, default=12, help="OSSE test times per density and variable")
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--osse-members", type=int, default=8, help="members on the OSSE cases (0: none)")
    p.add_argument("--skip", nargs="*", default=[])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "assimilation.md"))
    a = p.parse_args(argv)
    rows, t0 = [], time.perf_counter()
    if "osse" not in a.skip:
        for density in (0.005, 0.01, 0.02, 0.05, 0.1):
            for var in ("z500", "tas"):
                sc = gridded_set("", osse_cases(Path(a.sim).expanduser(), var, a.n_times), Scores(), a.osse_members, density,
                                 0, old_default)
                rows += sc.rows(f"HS OSSE {var}, {density:.1%} obs ({a.n_times} test times)")
            print(f"OSSE {density}: {time.perf_counter() - t0:.0f} s", flush=True)
    if "djf" not in a.skip:
        sc = gridded_set("", climatology_cases(djf(Path(a.data))), Scores(), a.members, 0.02, 0, old_default)
        rows += sc.rows("NCEP DJF z500 N. Atlantic, 2 % obs, 65 winters")
        print(f"DJF: {time.perf_counter() - t0:.0f} s", flush=True)
    if "global" not in a.skip:
        z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
        sc = gridded_set("", climatology_cases(z), Scores(), a.members, 0.02, 0, old_default)
        rows += sc.rows("NCEP z500 global, 2 % obs, 21 fields")
        print(f"global: {time.perf_counter() - t0:.0f} s", flush=True)
    if "sao" not in a.skip:
        rows += sao(Scores(), a.members).rows("SAO stations 18 UTC, 10-fold CV")
    table = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g")
    print(table)
    Path(a.out).write_text(f"Command: `python benchmarks/evaluate_assimilation.py {' '.join(argv or [])}`\n\n{table}\n")


if __name__ == "__main__":
    main()
