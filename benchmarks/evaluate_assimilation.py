"""Assimilation scores: background, OI/3D-Var and xda on the same cases.

    python benchmarks/evaluate_assimilation.py --sim ~/.cache/xda/hs_t42.nc

Prints one markdown table (latitude-weighted RMSE and MAE; stations unweighted) and
writes it to benchmarks/results/assimilation.md. Cases:

1. Held-Suarez OSSE, held-out test split: 1 % and 5 % of grid points observed with
   noise (z500: 10 m, tas: 0.5 K); ``B`` statistics from the training split (the model
   card) for both OI and xda; scored at withheld points.
2. Real NCEP z500: each of the 21 fields as truth, the mean of the other 20 as
   background, 2 % of points observed with 10 m noise; ``B`` from the innovations
   (Hollingsworth-Lonnberg); scored at withheld points.
3. Real SAO station temperatures, 1995-03-18 18 UTC: background = MPI-ESM-LR March 2005
   monthly-mean tas on its T63 grid over North America, shifted by the mean innovation
   of the assimilated stations; 10-fold cross-validation by station; ``B`` from the
   innovations; scored at withheld stations that pass the background check.
"""

from __future__ import annotations

import argparse
import sys
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


def wscore(field, truth, mask, w):
    """Latitude-weighted RMSE and MAE over points where ``mask``."""
    e = (field - truth)[mask]
    ww = np.broadcast_to(w[:, None], truth.shape)[mask]
    return np.sqrt(np.sum(ww * e * e) / ww.sum()), np.sum(ww * np.abs(e)) / ww.sum()


def add(rows, case, var, method, rm, ma, **extra):
    rows.append(dict(case=case, variable=var, method=method, rmse=rm, mae=ma, **extra))


def osse(sim, rows, n_times, members, steps, seed=0, split="test", guidance=1.0):
    ds = xr.open_dataset(sim)
    test = np.flatnonzero(ds["split"].values == split)
    times = test[np.linspace(0, test.size - 1, n_times).astype(int)]
    rng = np.random.default_rng(seed)
    w = latitude_weights(ds["lat"].values)
    for density in (0.01, 0.05):
        acc = {}
        for t in times:
            for v in ("z500", "tas"):
                truth = ds[f"{v}_truth"].isel(time=t)
                bg = ds[f"{v}_background"].isel(time=t).rename(v)
                mask = rng.random(truth.shape) < density
                obs = (truth + rng.normal(0, OBS_NOISE[v], truth.shape)).where(mask).rename(v)
                obs.attrs = dict(truth.attrs)
                bg.attrs = dict(truth.attrs)
                kw = dict(obs_error=OBS_NOISE[v], background_error="model", qc=None)
                res = {"background": bg.values}
                res["OI"] = xda.assimilate(bg, obs, method="oi", **kw).values
                t0 = time.perf_counter()
                an = xda.assimilate(bg, obs, method="xda", members=members, seed=seed + int(t), steps=steps, guidance=guidance, **kw)
                dt = time.perf_counter() - t0
                res["xda (member 0)"] = an.isel(member=0).values if members > 1 else an.values
                if members > 1:
                    res[f"xda (mean of {members})"] = an.mean("member").values
                for m, f in res.items():
                    rm, ma = wscore(f, truth.values, ~mask, w)
                    acc.setdefault((v, m), []).append((rm**2, ma))
                acc.setdefault((v, "_time"), []).append((dt, an.attrs.get("xda_nfe", 0)))
        for (v, m), vals in acc.items():
            if m == "_time":
                continue
            vals = np.array(vals)
            t_mean = np.mean([x[0] for x in acc[(v, "_time")]])
            add(rows, f"HS OSSE {density:.0%} obs ({len(times)} {split} times)", v, m, np.sqrt(vals[:, 0].mean()), vals[:, 1].mean(),
                seconds=t_mean if m.startswith("xda") else None)


def ncep(rows, members, steps, seed=0):
    ds = xda.datasets.open_dataset("ncep_z500_global")
    z = ds["z500"]
    rng = np.random.default_rng(seed)
    w = latitude_weights(ds["lat"].values)
    acc = {}
    for k in range(z.sizes["time"]):
        truth = z.isel(time=k, drop=True)
        bg = z.drop_isel(time=k).mean("time")
        bg.attrs = dict(z.attrs)
        mask = rng.random(truth.shape) < 0.02
        obs = (truth + rng.normal(0, 10.0, truth.shape)).where(mask)
        obs.attrs = dict(z.attrs)
        kw = dict(obs_error=10.0, background_error="innovations")
        res = {"background": bg.values, "OI": xda.assimilate(bg, obs, method="oi", **kw).values}
        an = xda.assimilate(bg, obs, method="xda", members=members, seed=seed + k, steps=steps, **kw)
        res["xda (member 0)"] = an.isel(member=0).values if members > 1 else an.values
        if members > 1:
            res[f"xda (mean of {members})"] = an.mean("member").values
        for m, f in res.items():
            rm, ma = wscore(f, truth.values, ~mask, w)
            acc.setdefault(m, []).append((rm**2, ma))
    for m, vals in acc.items():
        vals = np.array(vals)
        add(rows, "NCEP z500, 2 % obs (21 fields)", "z500", m, np.sqrt(vals[:, 0].mean()), vals[:, 1].mean())


def sao(rows, members, steps, hour=18, seed=0):
    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["hour"] == hour, drop=True)
    df = pd.DataFrame({"station": s["station"].values, "lat": s["lat"].values, "lon": s["lon"].values, "t": s["T"].values})
    df = df.dropna().drop_duplicates("station").reset_index(drop=True)
    esm = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=2, drop=True)  # March 2005 monthly mean
    bg0 = esm.sel(lat=slice(15, 65), lon=slice(225, 300))
    grid_lat, grid_lon = bg0["lat"].values, bg0["lon"].values
    op, inside = bilinear_weights(grid_lat, grid_lon, df["lat"].values, df["lon"].values, periodic=False)
    df = df[inside].reset_index(drop=True)
    t_k = df["t"].values + 273.15
    folds = np.random.default_rng(seed).permutation(len(df)) % 10
    pred = {m: np.full(len(df), np.nan) for m in ("background", "OI", "xda (member 0)", f"xda (mean of {members})")}
    scored = np.zeros(len(df), bool)
    for f in range(10):
        train, test = folds != f, folds == f
        hb = apply(op, bg0.values)
        offset = np.median(t_k[train] - hb[train])  # bias of the monthly climatology at this hour
        bg = bg0 + offset
        bg.attrs = dict(esm.attrs)
        obs = df[train][["lat", "lon", "t"]].rename(columns={"t": "tas"})
        obs.attrs["units"] = {"tas": "degC"}
        kw = dict(obs_error=1.5, background_error="innovations")
        an_oi = xda.assimilate(bg.to_dataset(name="tas"), obs, method="oi", **kw)["tas"]
        an = xda.assimilate(bg.to_dataset(name="tas"), obs, method="xda", members=members, seed=seed + f, steps=steps, **kw)["tas"]
        op_t, _ = bilinear_weights(grid_lat, grid_lon, df["lat"].values[test], df["lon"].values[test], periodic=False)
        pred["background"][test] = apply(op_t, bg.values)
        pred["OI"][test] = apply(op_t, an_oi.values)
        pred["xda (member 0)"][test] = apply(op_t, an.isel(member=0).values)
        pred[f"xda (mean of {members})"][test] = apply(op_t, an.mean("member").values)
        # score only withheld reports that pass the same background check as assimilated ones
        d = t_k[test] - pred["background"][test]
        scored[test] = np.abs(d - np.median(d)) < 5 * 1.4826 * np.median(np.abs(d - np.median(d))) + 1e-9
    for m, p in pred.items():
        e = (p - t_k)[scored]
        add(rows, f"SAO stations {hour} UTC, 10-fold CV ({scored.sum()} stations)", "tas", m, np.sqrt(np.mean(e**2)), np.mean(np.abs(e)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", default="~/.cache/xda/hs_t42.nc")
    p.add_argument("--n-times", type=int, default=10)
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "assimilation.md"))
    p.add_argument("--skip", nargs="*", default=[])
    p.add_argument("--split", default="test", help="OSSE split: 'validation' for tuning, 'test' for reporting")
    p.add_argument("--guidance", type=float, default=1.0)
    a = p.parse_args(argv)
    rows = []
    t0 = time.perf_counter()
    if "osse" not in a.skip:
        osse(Path(a.sim).expanduser(), rows, a.n_times, a.members, a.steps, split=a.split, guidance=a.guidance)
        print(f"OSSE done {time.perf_counter() - t0:.0f} s", flush=True)
    if "ncep" not in a.skip:
        ncep(rows, a.members, a.steps)
        print(f"NCEP done {time.perf_counter() - t0:.0f} s", flush=True)
    if "sao" not in a.skip:
        sao(rows, a.members, a.steps)
    df = pd.DataFrame(rows)
    table = df.to_markdown(index=False, floatfmt=".3g")
    print(table)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    cmd = " ".join(["python benchmarks/evaluate_assimilation.py", *(argv if argv is not None else sys.argv[1:])])
    Path(a.out).write_text(f"Command: `{cmd}`\n\n{table}\n")


if __name__ == "__main__":
    main()
