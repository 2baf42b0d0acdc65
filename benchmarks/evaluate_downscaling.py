"""Downscaling on real fields the models never saw: classical baselines and learned models, same cases.

    python benchmarks/evaluate_downscaling.py [--members 8] [--sim ~/.cache/xda/hs_t63_ls_s0.nc ~/.cache/xda/hs_t63_ls_s1.nc]

Prints one markdown table and writes it to ``benchmarks/results/downscaling.md``.
Every case is a fine field, coarsened by area-weighted block means (``xda.coarsen``)
and downscaled back with the public API (``xda.downscale``), as a user would:

* MPI-ESM-LR 2005 monthly-mean ``tas`` (T63, 1.9 deg; 12 months): the globe and three
  regional crops (North America, Europe, Asia), factors 2 and 4; with ``uas``/``vas``;
* the January 1996 blizzard's surface air temperature (regional 1.25 x 2.5 deg, every
  8th of its 6-hourly times, cropped to where it is defined), factors 2 and 4; with its
  10-m winds;
* with ``--sim``, the held-out test split of the Held-Suarez simulations (orography and a
  seasonal land-sea contrast; every 16th time), the globe and a North-American crop.

Rows: conservative bilinear, conservative bicubic, lapse-rate (all three conservative,
``xda.numerics.regrid`` / ``xda.numerics.lapse_rate``), the learned regression (the
mean departure from the lapse-rate baseline), the diffusion model's ensemble mean and
one member.

Scores, latitude-weighted: RMSE and MAE (K) and their ratios to conservative bicubic
and to the lapse-rate baseline; SSIM of the *departure from conservative bicubic* (the
fine detail each method adds; 1 = the truth's detail); ``fine power``: the power of
zonal wavenumbers above the coarse grid's Nyquist, over the truth's (1 = the right
amount of fine-scale variance; zonal FFT per row, linear detrend and a Hann window on
regional grids); ``block err``: max |block mean - input| (K, conservation); for
ensembles the fair CRPS and the spread-skill ratio (no post-hoc calibration).
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

REGIONS = {  # lat, lon (degrees east, 0..360 or -180..180 as in the slice)
    "North America": ((14.0, 62.0), (224.0, 316.0)),
    "Europe": ((34.0, 72.0), (-12.0, 40.0)),
    "Asia": ((10.0, 58.0), (60.0, 150.0)),
}


def _crop(t: xr.DataArray, lat, lon, factor: int = 4) -> xr.DataArray:
    if lon[0] < 0:
        t = t.assign_coords(lon=((t.lon + 180.0) % 360.0) - 180.0).sortby("lon")
    t = t.sel(lat=slice(*lat), lon=slice(*lon))
    return t.isel(lat=slice(0, t.sizes["lat"] // factor * factor), lon=slice(0, t.sizes["lon"] // factor * factor))


def esm_cases() -> dict:
    """MPI-ESM tas with its near-surface winds (Datasets), the globe and three regions."""
    t = xr.merge([xda.datasets.open_dataset(f"esm_{v}")[[v]] for v in ("tas", "uas", "vas")])
    t = t.drop_vars(["lat_bnds", "lon_bnds", "time_bnds"], errors="ignore")
    cases = {"MPI-ESM tas, globe": t}
    cases.update({f"MPI-ESM tas, {name}": _crop(t, *box) for name, box in REGIONS.items()})
    return cases


def blizzard_case() -> xr.Dataset:
    """The blizzard's surface air temperature and 10-m winds, the largest NaN-free block (28 x 24 cells)."""
    t = xr.merge([xda.datasets.open_dataset(f"storm1996_{v}")[[v]] for v in ("t", "u", "v")])
    t = t.rename(t="tas", u="uas", v="vas")
    t = t.isel(time=np.flatnonzero(np.isfinite(t["tas"].values).mean(axis=(1, 2)) > 0.5)[::8])
    return t.isel(lat=slice(4, 32), lon=slice(6, 30))


def sim_cases(paths) -> dict:
    """The held-out test split of the simulations (every 16th time), globe and North America."""
    from xda.training.downscaling import load_simulation

    lev = load_simulation([Path(p).expanduser() for p in paths], "test", every=16)[0]
    dims, coords = ("time", "lat", "lon"), {"lat": lev["lat"], "lon": lev["lon"]}
    t = xr.Dataset({"tas": (dims, lev["tas"], {"units": "K", "standard_name": "air_temperature"}),
                    "uas": (dims, lev["uas"], {"units": "m s-1", "standard_name": "eastward_wind"}),
                    "vas": (dims, lev["vas"], {"units": "m s-1", "standard_name": "northward_wind"})}, coords=coords)
    return {"Held-Suarez test split, globe": t,
            "Held-Suarez test split, North America": _crop(t, *REGIONS["North America"])}


def _weights(da: xr.DataArray) -> np.ndarray:
    return np.broadcast_to(np.cos(np.deg2rad(da["lat"].values))[:, None], da.shape[-2:])


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / (np.sum(w) * x.size / w.size))


def fine_power(field: np.ndarray, factor: int, periodic: bool) -> float:
    """Power of the zonal wavenumbers above the coarse Nyquist (per row, summed), averaged over rows and times."""
    x = field.reshape(-1, field.shape[-1]).astype(np.float64)
    if not periodic:
        n = np.arange(x.shape[-1])
        coef = np.polynomial.polynomial.polyfit(n, x.T, 1)
        x = (x - (coef[0][:, None] + coef[1][:, None] * n)) * np.hanning(x.shape[-1])
    p = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    return float(p[:, x.shape[-1] // (2 * factor) + 1:].sum(axis=-1).mean())


def ssim_detail(pred: np.ndarray, truth: np.ndarray, base: np.ndarray, lat, lon) -> float:
    def da(a):
        return xr.DataArray(a.reshape(-1, *a.shape[-2:]), dims=("s", "lat", "lon"), coords={"lat": lat, "lon": lon},
                            attrs={"units": "K"})
    return float(xda.metrics.ssim(da(pred - base), da(truth - base)).mean())


def scores(pred: np.ndarray, truth: xr.DataArray, base: np.ndarray, coarse: xr.DataArray, factor: int,
           periodic: bool, ens: np.ndarray | None = None, ens_attrs: dict | None = None) -> dict:
    t = truth.values.astype(np.float64)
    w = _weights(truth)
    e = pred - t
    lat, lon = truth["lat"].values, truth["lon"].values
    blocks = xda.coarsen(truth.copy(data=pred.astype(truth.dtype)), factor).values
    out = dict(rmse=np.sqrt(_wmean(e**2, w)), mae=_wmean(np.abs(e), w), ssim_detail=ssim_detail(pred, t, base, lat, lon),
               fine_power=fine_power(pred, factor, periodic) / fine_power(t, factor, periodic),
               block_err=float(np.abs(blocks - coarse.values).max()))
    if ens is not None:
        m = xr.DataArray(ens, dims=("member", *truth.dims), coords=truth.coords,
                         attrs={"units": truth.attrs.get("units", "K"), **(ens_attrs or {})})  # recentred: its estimators
        out["crps"] = float(xda.metrics.crps(m, truth, weights="latitude"))
        out["spread_skill"] = float(xda.metrics.spread_skill_ratio(m, truth, weights="latitude"))
    return out


def run_case(label: str, data: xr.Dataset, factor: int, members: int, steps: int, rows: list,
             model: str = xda.models.cards.DEFAULT_DOWNSCALING_MODEL, classical: bool = True) -> None:
    """Coarsen ``data`` (tas and, when present, winds), downscale it back by every method, score against tas."""
    truth = data["tas"]
    coarse_ds = xda.coarsen(data, factor)
    coarse = coarse_ds["tas"]
    periodic = xda.labeled.grid.grid_of(truth).periodic
    kw = dict(like=truth)  # back onto the truth's own coordinates (a Gaussian grid is not a uniform split)
    preds, times = {}, {}
    for method, name in (("bilinear", "conservative bilinear"), ("bicubic", "conservative bicubic"),
                         ("lapse_rate", "lapse-rate")):
        t0 = time.perf_counter()
        preds[name] = xda.downscale(coarse, factor, method=method, **kw).values.astype(np.float64)
        times[name] = time.perf_counter() - t0
    base = preds["conservative bicubic"]
    for name, p in preds.items():
        if classical:
            rows.append(dict(case=label, factor=factor, method=name, seconds=times[name],
                             **scores(p, truth, base, coarse, factor, periodic)))
    kw["model"] = model
    tag = "" if model == xda.models.cards.DEFAULT_DOWNSCALING_MODEL else f" ({model})"
    t0 = time.perf_counter()
    reg = xda.downscale(coarse_ds, factor, method="regression", **kw)["tas"].values.astype(np.float64)
    rows.append(dict(case=label, factor=factor, method="xda regression" + tag, seconds=time.perf_counter() - t0,
                     **scores(reg, truth, base, coarse, factor, periodic)))
    t0 = time.perf_counter()
    out = xda.downscale(coarse_ds, factor, members=members, seed=0, steps=steps, **kw)["tas"]
    ens, sec = out.values.astype(np.float64), time.perf_counter() - t0
    flag = {k: v for k, v in out.attrs.items() if k == "xda_members_recentred"}
    rows.append(dict(case=label, factor=factor, method=f"xda, mean of {members}{tag}", seconds=sec,
                     **scores(ens.mean(0), truth, base, coarse, factor, periodic, ens=ens, ens_attrs=flag)))
    rows.append(dict(case=label, factor=factor, method=f"xda, one member{tag}", seconds=sec / members,
                     **scores(ens[0], truth, base, coarse, factor, periodic)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=8)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--sim", nargs="*", default=None, help="simulation files (xda.simulate --kind downscaling)")
    p.add_argument("--cases", default=None, help="only the cases whose label contains this text")
    p.add_argument("--learned-only", action="store_true", help="skip the classical rows")
    p.add_argument("--model", action="append", default=None,
                   help="learned model(s) to score (repeatable; default the shipped one; others by XDA_WEIGHTS_DIR)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "downscaling.md"))
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    cases = esm_cases()
    cases["Blizzard Jan 1996 surface T (1.25 x 2.5 deg)"] = blizzard_case()
    if a.sim:
        cases.update(sim_cases(a.sim))
    rows = []
    for label, truth in cases.items():
        if a.cases and a.cases not in label:
            continue
        for factor in (2, 4):
            for k, model in enumerate(a.model or [xda.models.cards.DEFAULT_DOWNSCALING_MODEL]):
                run_case(label, truth, factor, a.members, a.steps, rows, model=model,
                         classical=k == 0 and not a.learned_only)
            print(f"{label} x{factor} done", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    for (case, factor), g in df.groupby(["case", "factor"], sort=False):
        ref = g.set_index("method")["rmse"]
        if "lapse-rate" in ref:
            df.loc[g.index, "x_bicubic"] = g["rmse"] / ref["conservative bicubic"]
            df.loc[g.index, "x_lapse"] = g["rmse"] / ref["lapse-rate"]
    cols = ["case", "factor", "method", "rmse", "x_bicubic", "x_lapse", "mae", "ssim_detail", "fine_power", "block_err",
            "crps", "spread_skill", "seconds"]
    table = df[[c for c in cols if c in df]].to_markdown(index=False, floatfmt=".3g")
    header = (f"Command: `python benchmarks/evaluate_downscaling.py {' '.join(argv or sys.argv[1:])}`; {a.members} members, "
              f"{a.steps} Heun steps; model {xda.models.cards.DEFAULT_DOWNSCALING_MODEL}; RMSE/MAE/CRPS in K.\n\n")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(header + table + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
