"""Labeled diagnostics against their own kernels and plain numpy, measured in one run.

    python benchmarks/labeled_speed.py [--shape 24 721 1440] [--repeat 3] [--skip-cold]

For each of the residual, advection, laplacian and gradient on a (time, lat, lon)
float64 field with units K and m/s (latitudes 90..-90 as reanalyses store them, and
-90..90), it times

* the numba kernel writing a new output (``xda.numerics.stencils``, plain arrays);
* the public labeled call (``xda.advection_diffusion_residual(T, u=u, v=v, kappa=1e5)``
  etc.) on DataArrays, north-first and south-first;
* the plain-numpy reference (``xda.numerics.reference``, the same discretisation);

and reports labeled / kernel (target <= 1.5) and numpy / labeled (target >= 20), the
memory the labeled call allocates (tracemalloc peak, in fields; 1 = only its output),
the fixed overhead on a 4 x 73 x 144 field (target <= 5 ms), ``import xda`` time and
the first call with a cold and a warm numba cache (subprocesses).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import xarray as xr

import xda
from xda.numerics import reference, stencils as st


def best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def fields(nt, ny, nx, descending, seed=0):
    lat = np.linspace(90, -90, ny) if descending else np.linspace(-90, 90, ny)
    lon = np.arange(nx) * 360.0 / nx
    time_ = np.datetime64("2000-01-01") + np.arange(nt) * np.timedelta64(1, "h")
    coords = {"time": time_, "latitude": ("latitude", lat, {"units": "degrees_north", "standard_name": "latitude"}),
              "longitude": ("longitude", lon, {"units": "degrees_east", "standard_name": "longitude"})}
    rng = np.random.default_rng(seed)
    mk = lambda a, u, n: xr.DataArray(a, dims=("time", "latitude", "longitude"), coords=coords, attrs={"units": u}, name=n)  # noqa: E731
    return (mk(280 + rng.normal(size=(nt, ny, nx)), "K", "t"), mk(10 * rng.normal(size=(nt, ny, nx)), "m/s", "u"),
            mk(10 * rng.normal(size=(nt, ny, nx)), "m/s", "v"))


def cases(T, U, V, kappa):
    lat, lon = T.latitude.values, T.longitude.values
    c, u, v = T.values, U.values, V.values
    ts = np.arange(T.sizes["time"]) * 3600.0
    geo = st.geometry(lat, lon, True)
    return {
        "residual": (lambda: st.advection_diffusion_residual(c, u, v, kappa, ts, geo),
                     lambda T, U, V: xda.advection_diffusion_residual(T, u=U, v=V, kappa=kappa, time="time"),
                     lambda: reference.advection_diffusion_residual(c, u, v, kappa, ts, lat, lon)),
        "advection": (lambda: st.advection(c, u, v, geo), lambda T, U, V: xda.advection(T, U, V),
                      lambda: reference.advection(c, u, v, lat, lon)),
        "laplacian": (lambda: st.laplacian(c, geo), lambda T, U, V: xda.laplacian(T), lambda: reference.laplacian(c, lat, lon)),
        "gradient": (lambda: st.gradient(c, geo), lambda T, U, V: xda.gradient(T), lambda: reference.gradient(c, lat, lon)),
    }


def allocated_fields(fn, nbytes):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / nbytes


def subprocess_seconds(code, env=None):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    return time.perf_counter() - t0, r


def startup_rows():
    _, r = subprocess_seconds("import xda")
    rows = [("python -c 'import xda' (wall, s)", subprocess_seconds("import xda")[0])]
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import xda"], capture_output=True, text=True)
    total = [ln for ln in r.stderr.splitlines() if ln.rstrip().endswith("| xda")]
    rows.append(("-X importtime cumulative for xda (s)", int(total[-1].split("|")[1]) / 1e6))
    rows.append(("torch imported by `import xda`", float(subprocess_seconds(
        "import sys, xda; print(int('torch' in sys.modules))")[1].stdout.strip())))
    probe = ("import time, numpy as np, xarray as xr, xda; t = xr.DataArray(np.random.rand(2, 9, 12), dims=('time','lat','lon'), "
             "coords={'lat': np.linspace(-80, 80, 9), 'lon': np.arange(12) * 30.0, 'time': [0.0, 6.0]}, attrs={'units': 'K'}); "
             "t['time'].attrs['units'] = 'hours'; u = t.assign_attrs(units='m/s'); t0 = time.perf_counter(); xda.{op}; "
             "print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for op in ("laplacian(t)", "advection_diffusion_residual(t, u, u, 1e5)"):
            cold = float(subprocess_seconds(probe.replace("{op}", op), env)[1].stdout)
            warm = float(subprocess_seconds(probe.replace("{op}", op), env)[1].stdout)
            rows.append((f"first {op.split('(')[0]}: cold numba cache (s)", cold))
            rows.append((f"first {op.split('(')[0]}: warm numba cache (s)", warm))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", type=int, nargs=3, default=(24, 721, 1440))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-cold", action="store_true", help="skip import-time and cold-cache subprocesses")
    a = p.parse_args()
    kappa = 1e5
    print(f"fields {tuple(a.shape)} float64, {xda.threads.describe()}")
    print("| operation | kernel, new output (s) | labeled N-first (s) | labeled S-first (s) | numpy (s) "
          "| labeled / kernel | numpy / labeled | fields allocated |")
    print("|---|---|---|---|---|---|---|---|")
    north, south = fields(*a.shape, True), fields(*a.shape, False)
    nbytes = north[0].nbytes
    for name in ("residual", "advection", "laplacian", "gradient"):
        kern, lab, ref = cases(*north, kappa)[name]
        lab(*[f.isel(time=slice(0, 3), latitude=slice(0, 8)) for f in north])  # compile
        t_k = best(kern, a.repeat)
        t_n = best(lambda: lab(*north), a.repeat)
        t_s = best(lambda: lab(*south), a.repeat)
        t_r = best(ref, 1)
        alloc = allocated_fields(lambda: lab(*north), nbytes)
        worst = max(t_n, t_s)
        print(f"| {name} | {t_k:.3f} | {t_n:.3f} | {t_s:.3f} | {t_r:.3f} | {worst / t_k:.2f} | {t_r / worst:.1f} | {alloc:.2f} |")
        del kern, lab, ref
    small = fields(4, 73, 144, True)
    print("\nfixed overhead, 4 x 73 x 144 (ms): labeled call minus its kernel")
    for name, (kern, lab, _) in cases(*small, kappa).items():
        lab(*small)
        t_l, t_k = best(lambda: lab(*small), 50), best(kern, 50)
        print(f"  {name:10s} labeled {1e3 * t_l:6.2f}  kernel {1e3 * t_k:6.2f}  overhead {1e3 * (t_l - t_k):6.2f}")
    if not a.skip_cold:
        print("\nstart-up")
        for label, value in startup_rows():
            print(f"  {label:48s} {value:8.3f}")


if __name__ == "__main__":
    main()
