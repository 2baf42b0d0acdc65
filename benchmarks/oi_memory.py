"""OI with many observations: peak memory and time of the dense solve and of the local analysis.

    python benchmarks/oi_memory.py [--sizes 1000 3000 6000 12000 40000] [--quick]

Each case runs ``xda.assimilate(..., method="oi")`` in a fresh process, so that its
peak resident memory (``ru_maxrss``) is its own; the table gives it less the memory
of the same process before the analysis (data loaded, xda imported).

* **Synthetic stations on a real field**: the bundled NCEP z500 (global 2.5 deg); the
  truth is one month, the background the mean of the others; ``n`` reports at random
  positions (uniform on the sphere) of the truth, bilinear, plus 10 m Gaussian noise.
  ``B`` is fixed (s_b = 50 m, L = 600 km) so that the solvers alone differ.
  ``dense``: one solve (``xda.numerics.oi.MAX_DENSE`` raised above ``n``);
  ``auto``: xda's default (dense up to 3000 observations, local above). Where both
  run, the last column is the largest difference between them (m).
* **Real station reports**: the bundled SAO/METAR reports of 1995-03-18, the whole
  day at once (``window=None``), temperature on the MPI-ESM March background over North
  America, default (tuned) ``B``.

Writes benchmarks/results/oi_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic(n: int):
    import xarray as xr

    import xda

    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    truth = z.isel(time=0, drop=True)
    bg = z.isel(time=slice(1, None)).mean("time").assign_attrs(truth.attrs)
    rng = np.random.default_rng(0)
    lat, lon = np.rad2deg(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(0, 360, n)
    pts = dict(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs"))
    value = truth.pad(lon=(0, 1), mode="wrap").assign_coords(lon=np.append(truth.lon, 360.0)).interp(**pts).values
    obs = xr.Dataset({"z500": ("obs", value + rng.normal(0, 10, n), dict(truth.attrs))},
                     coords={"lat": ("obs", lat), "lon": ("obs", lon)})
    return bg.to_dataset(name="z500"), obs, truth, dict(background_error=xda.BackgroundError.constant(50.0, 6e5))


def stations():
    import xda

    s = xda.datasets.open_dataset("sao_stations").rename(T="tas")
    bg = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(10, 70), lon=slice(190, 310))
    return bg, s, None, dict(window=None)


def child(case: str, solver: str, out: str) -> None:
    """One analysis in this process; prints a JSON line."""
    import xda
    from xda.numerics import oi

    warnings.simplefilter("ignore")
    bg, obs, truth, kw = stations() if case == "sao" else synthetic(int(case))
    if solver == "dense":
        oi.MAX_DENSE = 10**9
    before = rss_mib()
    t0 = time.perf_counter()
    try:
        a = xda.assimilate(bg, obs, method="oi", qc=None, **kw)
    except xda.errors.ResourceError as e:
        print(json.dumps(dict(refused=str(e)[:160], seconds=time.perf_counter() - t0)))
        return
    seconds = time.perf_counter() - t0
    name = list(bg.data_vars)[0]
    res = dict(seconds=seconds, peak_mib=rss_mib() - before, n_obs=int(a[name].attrs["xda_n_obs"]),
               solver=a[name].attrs["xda_oi_solver"])
    if truth is not None:
        res["rmse"] = float(np.sqrt(((a[name] - truth) ** 2).weighted(np.cos(np.deg2rad(truth.lat))).mean()))
    np.save(out, a[name].values)
    print(json.dumps(res))


def run(case: str, solver: str, tmp: Path) -> dict:
    out = tmp / f"{case}-{solver}.npy"
    p = subprocess.run([sys.executable, __file__, "--child", case, solver, str(out)], capture_output=True, text=True,
                       env=dict(os.environ, TQDM_DISABLE="1"))
    if p.returncode:
        return dict(error=(p.stderr.strip().splitlines() or ["?"])[-1][:160])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    if out.exists():
        res["file"] = out
    return res


def row(case, solver, r, diff="") -> str:
    if "refused" in r:
        return f"| {case} | {solver} | refused in {r['seconds']:.2f} s: {r['refused']} | | | | |"
    if "error" in r:
        return f"| {case} | {solver} | failed: {r['error']} | | | | |"
    rmse = f"{r['rmse']:.2f}" if "rmse" in r else ""
    return f"| {case} | {solver} | {r['solver']} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | {rmse} | {diff} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 6000, 12000, 40000])
    ap.add_argument("--quick", action="store_true", help="sizes 1000 and 6000, no station case")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "oi_memory.md"))
    args = ap.parse_args()
    sizes = [1000, 6000] if args.quick else args.sizes
    lines = ["| observations | solver asked | what ran | seconds | peak memory (MiB) | RMSE vs truth (m) | "
             "max diff vs dense (m) |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            dense = run(str(n), "dense", Path(tmp))
            lines.append(row(n, "dense", dense))
            print(lines[-1], flush=True)
            auto = run(str(n), "auto", Path(tmp))
            diff = (f"{np.abs(np.load(auto['file']) - np.load(dense['file'])).max():.3f}"
                    if "file" in auto and "file" in dense else "")
            lines.append(row(n, "auto", auto, diff))
            print(lines[-1], flush=True)
        if not args.quick:
            for solver in ("dense", "auto"):
                lines.append(row("SAO day (real)", solver, run("sao", solver, Path(tmp))))
                print(lines[-1], flush=True)
    text = "# OI memory and time (benchmarks/oi_memory.py)\n\n" + "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
