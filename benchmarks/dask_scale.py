"""Throughput of a long archive on a dask.distributed cluster against the serial call, measured in the same run.

    python benchmarks/dask_scale.py [--times 48] [--workers 2] [--chunk 6]

Cases (real fields): ``assimilate`` of 48 monthly NCEP z500 backgrounds (the 21 months of
the bundled archive repeated, each time shifted, background = truth + 30 m) with 2 % of the
grid observed per time (default ``method="oi"``: empirical-Bayes B per time); ``downscale``
(the default, x2) of 48 MPI-ESM monthly 2-m temperatures (the 12 months repeated). Rows:
the serial eager call (one process, all cores to BLAS/torch) and the same call on a
dask-backed input (chunks of ``--chunk`` times) computed on a ``LocalCluster`` of
``--workers`` processes with one thread each (and without dask's ``MALLOC_TRIM_THRESHOLD_``,
see docs/scaling.md). Reports seconds, fields per second, the ratio
to serial, and each worker's peak resident memory (``ru_maxrss``). Writes
benchmarks/results/dask_scale.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

warnings.filterwarnings("ignore")


#: The workers' environment: one BLAS (and xda) thread each, glibc's allocator left to adapt.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "XDA_NUM_THREADS": 1}


def archive(n: int):
    """``n`` backgrounds, their gridded observations (2 %), and ``n`` coarse 2-m temperatures."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    reps = -(-n // z.sizes["time"])
    truth = xr.concat([z.assign_coords(time=z["time"].values + np.timedelta64(31 * 24 * k, "h")) for k in range(reps)],
                      "time").isel(time=slice(0, n))
    truth = truth.assign_coords(time=np.datetime64("1958-01-01") + np.arange(n) * np.timedelta64(30, "D"))
    rng = np.random.default_rng(0)
    obs = truth.where(rng.random(truth.shape) < 0.02)
    bg = (truth + 30.0).assign_attrs(truth.attrs)
    tas = xda.datasets.open_dataset("esm_tas")[["tas"]]
    tas = xr.concat([tas] * -(-n // tas.sizes["time"]), "time").isel(time=slice(0, n))
    tas = tas.assign_coords(time=np.arange(n))
    return bg, obs, xda.coarsen(tas, 2)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--times", type=int, default=48)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk", type=int, default=6)
    a = p.parse_args()
    import dask
    from distributed import Client, LocalCluster

    # dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which fixes glibc's mmap threshold at 128 kB:
    # every temporary array is then mapped and faulted in afresh, and an analysis runs 1.6-1.9x slower than in
    # the client (measured here); the same environment without it (docs/scaling.md)
    dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON})

    bg, obs, coarse = archive(a.times)
    jobs = {"assimilate (OI, tuned B, 2 %)": (lambda x: xda.assimilate(x, obs, method="oi"), bg),
            "downscale (default, x2)": (lambda x: xda.downscale(x, 2), coarse)}
    xda.assimilate(bg.isel(time=0), obs.isel(time=0), method="oi")  # warm: imports, the prior
    xda.downscale(coarse.isel(time=slice(0, 2)), 2)  # warm: the model
    rows = []
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: xda.downscale(coarse.isel(time=slice(0, 2)), 2))  # each worker loads the model once
        # and compiles the numba kernels of the OI (as the serial call's warm-up did): first-call costs left out
        client.run(lambda: xda.assimilate(bg.isel(time=0), obs.isel(time=0), method="oi"))
        for name, (fn, data) in jobs.items():
            serial = timed(lambda: fn(data))
            lazy = timed(lambda: fn(data.chunk(time=a.chunk)).compute())
            peaks = client.run(peak_mb)
            rows.append((name, serial, lazy, max(peaks.values())))
            print(rows[-1], flush=True)
    lines = [f"# {a.times} times on a {a.workers}-process LocalCluster against the serial call",
             "", f"`python benchmarks/dask_scale.py --times {a.times} --workers {a.workers} --chunk {a.chunk}` "
             f"({time.strftime('%Y-%m-%d')}, 2 CPU cores; chunks of {a.chunk} times, one task each)", "",
             "| job | serial s | cluster s | fields/s serial | fields/s cluster | cluster / serial throughput | "
             "peak RSS per worker (MB) |", "|---|---|---|---|---|---|---|"]
    for name, serial, lz, peak in rows:
        lines.append(f"| {name} | {serial:.1f} | {lz:.1f} | {a.times / serial:.2f} | {a.times / lz:.2f} | "
                     f"{serial / lz:.2f}x | {peak:.0f} |")
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "results" / "dask_scale.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
