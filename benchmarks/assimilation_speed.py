"""Latency of one 64 x 128 analysis: OI (the reference) vs xda, measured in the same run.

    python benchmarks/assimilation_speed.py [--repeat 3] [--device cpu] [--fraction 0.05 0.10]

Prints a table: seconds per analysis (median of ``--repeat``), denoiser evaluations,
and the ratio to OI with the card's B (no tuning). ``xda`` starts from the tuned OI
(its B search is most of the time) and adds the cross-validated weight (``verify``). Case: one Held-Suarez test time (or, without the simulation
file, a synthetic 64 x 128 global field), 5 % and 10 % of points observed (``--fraction``), one variable.
Every call starts without the kept OI factorisation (``xda.numerics.oi.clear_cache()``) but the last
row's, which is what a next time on the same observation network and B costs.
A last table times the four-variable joint analysis (``hs-t42-mv-v1``: z500, tas, u500, v500, all
observed at the largest ``--fraction``) on a synthetic balanced 64 x 128 state against the per-variable OI.
Writes benchmarks/results/assimilation_speed.txt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import xda


def case(sim: Path, fraction: float = 0.05):
    if sim.exists():
        ds = xr.open_dataset(sim)
        t = int(np.flatnonzero(ds["split"].values == "test")[0])
        truth, bg = ds["z500_truth"].isel(time=t), ds["z500_background"].isel(time=t).rename("z500")
    else:
        lat = np.linspace(-87.9, 87.9, 64)
        lon = np.arange(128) * 2.8125
        f = 5500 + 100 * np.cos(np.deg2rad(lat))[:, None] * np.sin(np.deg2rad(3 * lon))[None]
        truth = xr.DataArray(f, dims=("lat", "lon"), coords={"lat": lat, "lon": lon},
                             attrs={"units": "m", "standard_name": "geopotential_height"})
        bg = (truth + 20).rename("z500")
    bg.attrs = {"units": "m", "standard_name": "geopotential_height"}
    rng = np.random.default_rng(0)
    obs = (truth + rng.normal(0, 10, truth.shape)).where(rng.random(truth.shape) < fraction).rename("z500")
    obs.attrs = dict(bg.attrs)
    return bg, obs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sim", default="~/.cache/xda/hs_t42_leads_s0.nc")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--fraction", type=float, nargs="+", default=[0.05, 0.10])
    a = p.parse_args()
    text = "\n\n".join([table(a, f) for f in a.fraction] + [joint_table(a, max(a.fraction))]) + "\n"
    print(text)
    (Path(__file__).parent / "results" / "assimilation_speed.txt").write_text(text)


def joint_case(fraction: float):
    """A balanced synthetic four-variable state on 64 x 128 (background = truth shifted in phase), every variable
    observed at ``fraction`` of the points with errors 10 m, 1 K, 2 m/s."""
    from xda.numerics import balance, stencils

    lat, lon = np.linspace(-87.9, 87.9, 64), np.arange(128) * 2.8125
    yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    geo = stencils.geometry(lat, lon, True)
    meta = {"z500": ("geopotential_height", "m", 10.0), "tas": ("air_temperature", "K", 1.0),
            "u500": ("eastward_wind", "m s-1", 2.0), "v500": ("northward_wind", "m s-1", 2.0)}
    states = []
    for phase in (0.0, 0.6):
        z = 5500 + 150 * np.cos(yy) ** 2 * np.sin(3 * xx + phase) + 100 * np.sin(2 * yy)
        u, v = balance.geostrophic_wind(z, geo)
        f = {"z500": z, "tas": 280 + 20 * np.cos(yy) + 2 * np.sin(2 * xx + phase), "u500": u, "v500": v}
        states.append(xr.Dataset({k: (("lat", "lon"), a, {"standard_name": meta[k][0], "units": meta[k][1]})
                                  for k, a in f.items()}, coords={"lat": lat, "lon": lon}))
    truth, bg = states
    rng = np.random.default_rng(0)
    obs = xr.Dataset({k: (truth[k] + rng.normal(0, meta[k][2], truth[k].shape)).where(rng.random(truth[k].shape) < fraction)
                      .assign_attrs(truth[k].attrs) for k in meta})
    return bg, obs, {k: m[2] for k, m in meta.items()}


def joint_table(a, fraction: float) -> str:
    """Median seconds of the joint analysis and of the per-variable OI, four variables observed at ``fraction``."""
    bg, obs, errors = joint_case(fraction)
    kw = dict(obs_error=errors, qc=None)
    configs = [("OI, card B, per variable", dict(method="oi", background_error="model", model="hs-t42-mv-v1")),
               ("OI tuned, per variable", dict(method="oi")), ("joint (default)", dict(model="hs-t42-mv-v1"))]
    xda.assimilate(bg, obs, seed=0, device=a.device, model="hs-t42-mv-v1", **kw)  # load the model once (cached)
    rows = []
    for name, c in configs:
        ts = []
        for r in range(a.repeat):
            xda.numerics.oi.clear_cache()
            t0 = time.perf_counter()
            an = xda.assimilate(bg, obs, seed=r, device=a.device if c.get("method") != "oi" else None, **kw, **c)
            ts.append(time.perf_counter() - t0)
        rows.append((name, float(np.median(ts)), int(an.attrs.get("xda_nfe", 0))))
    return _format(f"four variables on 64 x 128 (synthetic balanced state), {fraction:.0%} of each observed "
                   f"({int(obs['z500'].notnull().sum())} obs per variable)", rows, a.device)


def table(a, fraction: float) -> str:
    """Median seconds of each configuration at one observed fraction, as a table."""
    bg, obs = case(Path(a.sim).expanduser(), fraction)
    kw = dict(obs_error=10.0, qc=None)
    rows = []
    configs = [("OI, card B", dict(method="oi", background_error="model")), ("OI tuned (default)", dict(method="oi")),
               ("xda (default)", {}), ("xda, verify=False", dict(verify=False)),
               ("xda, card B, verify=False", dict(verify=False, background_error="model")),
               ("xda, 8 members, 6 steps", dict(members=8)), ("xda, 8 members, 16 steps", dict(steps=16, members=8)),
               ("OI, card B, a next time", dict(method="oi", background_error="model"))]
    xda.assimilate(bg, obs, seed=0, device=a.device, **kw)  # load the model once (cached)
    for name, c in configs:
        ts, nfe = [], 0
        for r in range(a.repeat):
            if "next time" not in name:  # each call from scratch, but for the row that shows the kept factor
                xda.numerics.oi.clear_cache()
            t0 = time.perf_counter()
            an = xda.assimilate(bg, obs, seed=r, device=a.device if c.get("method") != "oi" else None, **kw, **c)
            ts.append(time.perf_counter() - t0)
            nfe = an.attrs.get("xda_nfe", 0)
        rows.append((name, float(np.median(ts)), nfe))
    what = "one Held-Suarez test time" if Path(a.sim).expanduser().exists() else "a synthetic global field"
    return _format(f"one 64 x 128 analysis ({what}), {fraction:.0%} observed ({int(obs.notnull().sum())} obs)", rows,
                   a.device)


def _format(title: str, rows: list, device) -> str:
    """A table of (configuration, seconds, denoiser calls) rows with the ratio to the first row's time."""
    ref = rows[0][1]
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    lines = [f"{title}, device {dev}, torch threads {torch.get_num_threads()}, {time.strftime('%Y-%m-%d')}",
             f"| {'configuration':28s} | {'seconds':>8s} | {'denoiser calls':>14s} | {'x OI time':>9s} |",
             f"|{'-' * 30}|{'-' * 10}|{'-' * 16}|{'-' * 11}|"]
    lines += [f"| {name:28s} | {t:8.2f} | {n:14d} | {t / ref:9.1f} |" for name, t, n in rows]
    return "\n".join(lines)

if __name__ == "__main__":
    main()
