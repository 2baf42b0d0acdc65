"""Peak memory of a labeled residual on a lazy input much larger than memory's share.

    python benchmarks/dask_memory.py [--times 800] [--chunk 8 181 360]

Builds lazy random c, u, v of shape (times, 721, 1440) float64 (800 times: 3 x 6.6 GB,
~20 GB in all), chunked along time, latitude and longitude, calls
``xda.advection_diffusion_residual`` (halo exchange between chunks, periodic in
longitude) and reduces the result to its global mean square, streaming. Prints the
peak resident memory next to the chunk size and the input size.
"""

from __future__ import annotations

import argparse
import resource
import time

import dask
import dask.array as da
import numpy as np
import xarray as xr

import xda


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--times", type=int, default=800)
    p.add_argument("--chunk", type=int, nargs=3, default=(8, 181, 360))
    a = p.parse_args()
    shape, chunks = (a.times, 721, 1440), tuple(a.chunk)
    lat, lon = np.linspace(90, -90, 721), np.arange(1440) * 0.25
    coords = {"time": np.datetime64("2000-01-01") + np.arange(a.times) * np.timedelta64(1, "h"), "lat": lat, "lon": lon}
    rs = da.random.RandomState(0)
    mk = lambda loc, scale, units, name: xr.DataArray(  # noqa: E731
        rs.normal(loc, scale, size=shape, chunks=chunks), dims=("time", "lat", "lon"), coords=coords, attrs={"units": units}, name=name)
    c, u, v = mk(280, 1, "K", "t"), mk(0, 10, "m/s", "u"), mk(0, 10, "m/s", "v")
    r = xda.advection_diffusion_residual(c, u, v, kappa=1e5)
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        ms = float((r**2).mean().compute())
    sec = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB
    chunk_mb = np.prod(chunks) * 8 / 1e6
    print(f"input: 3 x {np.prod(shape) * 8 / 1e9:.1f} GB lazy float64 {shape}, chunks {chunks} ({chunk_mb:.1f} MB each)")
    print(f"mean square residual {ms:.4g} (K/s)^2; {sec:.0f} s; {xda.threads.describe()}")
    print(f"peak RSS {rss:.2f} GB = {rss * 1e3 / chunk_mb:.0f} chunks ({100 * rss / (3 * np.prod(shape) * 8 / 1e9):.1f} % of the input)")


if __name__ == "__main__":
    main()
