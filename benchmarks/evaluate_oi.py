"""The classical baseline on real data: OI as shipped before issue 9 vs the tuned OI.

    python benchmarks/evaluate_oi.py [--data ../shared/data] [--density 0.02]

Cases (climatological backgrounds, as a user without a forecast model has them):

1. NCEP/NCAR DJF-mean z500 over the North Atlantic (``ncep_z500_djf_natl.nc``, 2.5 deg,
   65 winters; units m, not in the file): each winter the truth, the mean of the other
   64 the background, leave-one-winter-out.
2. NCEP/NCAR monthly z500, global 2.5 deg (bundled, 21 fields): leave-one-field-out.

``--density`` of the grid points observed with 10 m Gaussian noise; scored at the
withheld grid points (latitude-weighted RMSE, metres), the same draws for every row.
Rows: the background; ``OI, card B`` and ``OI, innovations B`` (the two statistics the
shipped default chose between, depending on the number of observations); the tuned
default (``background_error=None``: Hollingsworth-Lonnberg by latitude band, L and
inflation by leave-one-out cross-validation); ``from_pairs`` of the other winters
(per-point s_b, fitted L), and the same tuned on the observations. ``calib`` is the
median over cases of the rms of the actual error over the rms of the analysis-error std the OI reports, at the
withheld points (1 = calibrated). Writes benchmarks/results/oi.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda
from xda.labeled.background_error import tune
from xda.labeled.grid import latitude_weights

warnings.filterwarnings("ignore", message="QC rejected")


def djf(data: Path) -> xr.DataArray:
    ds = xr.open_dataset(data / "ncep_z500_djf_natl.nc")
    z = ds["z"].isel(pressure=0, drop=True).rename("z500")
    return z.assign_attrs(units="m", standard_name="geopotential_height")


def ncep_global() -> xr.DataArray:
    return xda.datasets.open_dataset("ncep_z500_global")["z500"]


def methods(z: xr.DataArray, k: int):
    """name -> background_error for case ``k`` (the archive is the other times)."""
    others = z.drop_isel(time=k)
    n = others.sizes["time"]
    bgs = (others.sum("time") - others) / (n - 1)  # each other time's own leave-one-out climatology
    pairs = xda.BackgroundError.from_pairs(bgs.assign_attrs(z.attrs), others)
    return {"OI, card B": "model", "OI, innovations B": "innovations", "OI tuned (default)": None, "OI tuned": "tuned",
            "OI, from_pairs B": pairs, "OI, from_pairs B, tuned": ("tune", pairs)}


def run_case(z: xr.DataArray, k: int, density: float, rng) -> dict:
    truth = z.isel(time=k, drop=True)
    bg = z.drop_isel(time=k).mean("time").assign_attrs(z.attrs)
    mask = rng.random(truth.shape) < density
    obs = (truth + rng.normal(0, 10.0, truth.shape)).where(mask).assign_attrs(z.attrs)
    w = np.broadcast_to(latitude_weights(truth[truth.cf["latitude"].name].values)[:, None], truth.shape)[~mask]
    out = {"background": (bg.values, None)}
    for name, be in methods(z, k).items():
        if isinstance(be, tuple):  # from_pairs, then L and inflation tuned on the observations
            d = (obs - bg).values[mask]
            glat, glon = np.meshgrid(truth.cf["latitude"].values, truth.cf["longitude"].values, indexing="ij")
            be = tune(be[1], d, glat[mask], glon[mask], np.full(d.size, 10.0))
        try:
            an = xda.assimilate(bg.rename("z500"), obs.rename("z500"), method="oi", obs_error=10.0, background_error=be)
        except ValueError:  # e.g. too few observations for a Hollingsworth-Lonnberg fit
            out[name] = (np.full(truth.shape, np.nan), None)
            continue
        se = an.coords.get("z500_standard_error")
        out[name] = (an.values, None if se is None else se.values)
    scores = {}
    for name, (f, se) in out.items():
        e = (f - truth.values)[~mask]
        rmse = np.sqrt(np.sum(w * e * e) / w.sum())
        calib = rmse / np.sqrt(np.sum(w * se[~mask] ** 2) / w.sum()) if se is not None else np.nan
        scores[name] = (rmse**2, calib)
    return scores


def evaluate(label, z, density, seed=0):
    rng = np.random.default_rng(seed)
    acc = {}
    t0 = time.perf_counter()
    for k in range(z.sizes["time"]):
        for name, s in run_case(z, k, density, rng).items():
            acc.setdefault(name, []).append(s)
    rows = []
    base = None
    for name, vals in acc.items():
        vals = np.array(vals)
        failed = int(np.isnan(vals[:, 0]).sum())
        rmse = float(np.sqrt(np.nanmean(vals[:, 0]))) if failed < len(vals) else np.nan
        base = rmse if name == "OI tuned (default)" else base
        rows.append((label, name + (f" ({failed} cases failed)" if failed else ""), rmse, float(np.nanmedian(vals[:, 1]))))
    print(f"{label}: {time.perf_counter() - t0:.0f} s", flush=True)
    return [(c, m, r, r / base, cal) for c, m, r, cal in rows]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--density", type=float, default=0.02)
    a = p.parse_args(argv)
    rows = []
    djf_z = djf(Path(a.data))
    rows += evaluate(f"NCEP DJF z500 N. Atlantic, {a.density:.0%} obs, 65 winters", djf_z, a.density)
    rows += evaluate(f"NCEP z500 global, {a.density:.0%} obs, 21 fields", ncep_global(), a.density)
    lines = ["| case | method | RMSE (m) | x tuned OI | calib |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {m} | {r:.1f} | {x:.2f} | {'' if np.isnan(cal) else f'{cal:.2f}'} |" for c, m, r, x, cal in rows]
    text = "\n".join(lines)
    print(text)
    out = Path(__file__).parent / "results" / "oi.md"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
