"""Background-error statistics of the simulated worlds next to the real archives' (issue 27, item 2).

    python benchmarks/world_statistics.py SIM.nc [SIM.nc ...] [--data ../shared/data]

The learned assimilation models were trained in one world (``xda simulate --world hs94``)
and meet real errors of other sizes and shapes. For every simulation file (``xda simulate
--world NAME``) and every real archive, per variable: the rms and the Gaussian length scale
``L`` (Hollingsworth-Lonnberg fit to known errors, :meth:`xda.BackgroundError.from_pairs`) of

* the 24 h forecast background's error (simulations) or of 24 h persistence (the 1996
  blizzard's 6-hourly analyses: the error of a forecast that does nothing);
* the climatological background's error: anomalies from the archive's own mean.

Real archives (none reserved for evaluation; nothing here is fitted to them): NCEP DJF-mean
z500 over the North Atlantic (65 winters), NCEP z500 global (21 daily fields) and the 1996
blizzard's surface temperature. Writes benchmarks/results/world_statistics.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "world_statistics.md"


def stats(backgrounds: xr.DataArray, truths: xr.DataArray) -> tuple[float, float]:
    """(rms error, Gaussian L in km) of ``backgrounds - truths`` over ``time``."""
    be = xda.BackgroundError.from_pairs(backgrounds, truths, dim="time", per_point=False, correlation="gaussian")
    rms = float(np.sqrt(np.mean((backgrounds.values - truths.values) ** 2)))
    return rms, be.length_scale / 1e3


def simulated(path: Path) -> list:
    """Rows of one simulation file: (world, variable, background, rms, L) for z500 and tas."""
    ds = xr.open_dataset(path)
    name = f"{ds.attrs.get('world', 'hs94')} (seed {int(ds.attrs.get('seed', -1))})"
    rows = []
    for v, units in (("z500", "m"), ("tas", "K")):
        truth = ds[f"{v}_truth"].assign_attrs(units=units)
        day = np.flatnonzero(ds["lead_hours"].values == 24)
        rows.append((name, v, "24 h forecast", *stats(ds[f"{v}_background"].isel(time=day), truth.isel(time=day))))
        rows.append((name, v, "climatology", *stats(truth.mean("time").broadcast_like(truth), truth)))
    return rows


def real(data: Path) -> list:
    """Rows of the real archives."""
    z = xr.open_dataset(data / "ncep_z500_djf_natl.nc")["z"].isel(pressure=0, drop=True).assign_attrs(units="m")
    g = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    t = xda.datasets.open_dataset("storm1996_t")["t"].isel(lon=slice(7, 29))
    t = t.isel(time=np.flatnonzero(np.isfinite(t.values).all(axis=(1, 2))))
    lag = 4  # 24 h of 6-hourly analyses
    return [("real: NCEP DJF means, N. Atlantic", "z500", "climatology", *stats(z.mean("time").broadcast_like(z), z)),
            ("real: NCEP daily, global", "z500", "climatology", *stats(g.mean("time").broadcast_like(g), g)),
            ("real: 1996 blizzard", "surface T", "24 h persistence",
             *stats(t.isel(time=slice(0, -lag)).assign_coords(time=t.time[lag:]), t.isel(time=slice(lag, None)))),
            ("real: 1996 blizzard", "surface T", "climatology", *stats(t.mean("time").broadcast_like(t), t))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sims", nargs="+", type=Path, help="simulation files of `xda simulate` (OSSE kind)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = [r for s in a.sims for r in simulated(s.expanduser())] + real(a.data)
    lines = ["# Background-error statistics: the simulated worlds and the real archives", "",
             f"`python benchmarks/world_statistics.py {' '.join(s.name for s in a.sims)}` ({time.strftime('%Y-%m-%d')}, "
             f"{time.perf_counter() - t0:.0f} s). rms in the variable's units; L: Gaussian length scale fitted to the "
             "known errors' binned correlations (km).", "",
             "| world | variable | background | rms error | L (km) |", "|---|---|---|---|---|"]
    lines += [f"| {w} | {v} | {b} | {rms:.3g} | {length:.0f} |" for w, v, b, rms, length in rows]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
