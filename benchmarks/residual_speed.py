"""Speed of the fused advection-diffusion residual against references, in one run.

    python benchmarks/residual_speed.py [--shape 24 721 1440] [--repeat 3] [--skip-metpy]

Field: 24 x 721 x 1440 float64 (a day of hourly 0.25-degree data) with winds.
References measured in the same run:

* MetPy: ``metpy.calc.advection`` plus ``metpy.calc.laplacian`` on pint arrays with
  the grid spacings of ``metpy.calc.lat_lon_grid_deltas`` (no time tendency);
* plain numpy: the same discretisation as xda with whole-array operations;
* copy bandwidth: ``np.copyto`` of one field into a preallocated array; the
  residual's effective bandwidth counts the 4 arrays it must move (read c, u, v;
  write R). xda is timed writing into a reused output (like the copy) and allocating
  a new one (first-touch page faults included).

Prints seconds (minimum of ``--repeat``), speed-ups and bandwidths.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from xda.numerics import reference
from xda.numerics import stencils as st


def best(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", type=int, nargs=3, default=(24, 721, 1440))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-metpy", action="store_true")
    a = p.parse_args()
    nt, ny, nx = a.shape
    lat = np.linspace(-90, 90, ny)
    lon = np.arange(nx) * 360.0 / nx
    rng = np.random.default_rng(0)
    c = 280 + rng.normal(size=(nt, ny, nx))
    u = 10 * rng.normal(size=(nt, ny, nx))
    v = 10 * rng.normal(size=(nt, ny, nx))
    t = np.arange(nt) * 3600.0
    kappa = 1e5
    geo = st.geometry(lat, lon, periodic=True)
    nbytes = c.nbytes
    rows = []

    dst = np.empty_like(c)
    t_copy, _ = best(lambda: np.copyto(dst, c), a.repeat)
    bw_copy = 2 * nbytes / t_copy
    st.advection_diffusion_residual(c[:3, :8], u[:3, :8], v[:3, :8], kappa, t[:3], st.geometry(lat[:8], lon, True))  # compile
    out = np.empty_like(c)
    t_xda, r_xda = best(lambda: st.advection_diffusion_residual(c, u, v, kappa, t, geo, out=out), a.repeat)
    rows.append(("xda (numba, fused), out= reused", t_xda))
    t_alloc, _ = best(lambda: st.advection_diffusion_residual(c, u, v, kappa, t, geo), a.repeat)
    rows.append(("xda, new output each call", t_alloc))
    t_np, r_np = best(lambda: reference.advection_diffusion_residual(c, u, v, kappa, t, lat, lon), a.repeat)
    ok = np.isfinite(r_np) & np.isfinite(r_xda)
    assert np.allclose(r_xda[ok], r_np[ok], rtol=1e-8, atol=1e-12 * np.abs(r_np[ok]).max()), "xda and numpy disagree"
    rows.append(("plain numpy", t_np))
    if not a.skip_metpy:
        import metpy.calc as mpcalc
        from metpy.units import units

        dx, dy = mpcalc.lat_lon_grid_deltas(lon, lat)
        dx, dy = dx[None], dy[None]  # broadcast over time
        cq, uq, vq = units.Quantity(c, "K"), units.Quantity(u, "m/s"), units.Quantity(v, "m/s")

        def metpy_terms():
            adv = mpcalc.advection(cq, u=uq, v=vq, dx=dx, dy=dy, x_dim=-1, y_dim=-2)
            lap = mpcalc.laplacian(cq, deltas=(dy, dx), axes=(-2, -1))
            return adv, lap

        t_mp, _ = best(metpy_terms, max(1, a.repeat - 2))
        rows.append(("MetPy advection + laplacian", t_mp))
    print(f"advection-diffusion residual, {nt} x {ny} x {nx} float64 ({nbytes / 1e6:.0f} MB per field), "
          f"{numba.get_num_threads()} numba threads")
    print(f"copy bandwidth (np.copyto, read + write): {bw_copy / 1e9:.2f} GB/s")
    print(f"| {'implementation':32s} | {'seconds':>8s} | {'xda speed-up':>12s} | {'GB/s moved (4 arrays)':>22s} | {'x copy bw':>9s} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 14}|{'-' * 24}|{'-' * 11}|")
    for name, sec in rows:
        bw = 4 * nbytes / sec
        print(f"| {name:32s} | {sec:8.3f} | {sec / t_xda:12.1f} | {bw / 1e9:22.2f} | {bw / bw_copy:9.2f} |")


if __name__ == "__main__":
    main()
