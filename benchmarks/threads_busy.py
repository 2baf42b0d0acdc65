"""Does xda's thread policy hold on a busy machine? Two threads vs one, idle and busy.

    python benchmarks/threads_busy.py [--repeat 5]

For each call (a 500 x 500 Cholesky through scipy/LAPACK, a warm numba laplacian on a
24 x 181 x 360 field, the default learned 64 x 128 analysis: tuned OI + the anchored
model), measures the median wall time with ``xda.set_num_threads(1)`` and ``(2)`` and
with no explicit setting (xda's default policy, ``threads.for_analysis``), first on an idle
machine, then with one competing process spinning on a core (``--busy``). Prints the
ratio two-threads / one-thread: the target is <= 1.3 when busy (issue 8). All in one
process and one run, so the numbers compare.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import xarray as xr

import xda

sys.path.insert(0, str(Path(__file__).parent))
from assimilation_speed import case  # noqa: E402


def _median_time(fn, repeat):
    fn()  # warm
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def calls():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 500))
    spd = a @ a.T + 500 * np.eye(500)
    lat, lon = np.linspace(90, -90, 181), np.arange(360.0)
    z = xr.DataArray(rng.normal(5500, 50, (24, 181, 360)), dims=("time", "lat", "lon"),
                     coords={"lat": lat, "lon": lon}, attrs={"units": "m"})
    bg, obs = case(Path("/nonexistent"))  # the synthetic 64 x 128 case
    kw = dict(obs_error=10.0, qc=None, seed=0)
    return {
        "Cholesky 500x500 (LAPACK)": lambda: scipy.linalg.cho_factor(spd),
        "laplacian 24x181x360 (numba)": lambda: xda.laplacian(z),
        "default xda analysis 64x128 (tuned OI+torch)": lambda: xda.assimilate(bg, obs, **kw),
    }


def measure(repeat):
    out = {}
    for name, fn in calls().items():
        for n in (1, 2):
            xda.set_num_threads(n)
            out[name, n] = _median_time(fn, repeat)
        xda.threads._state.pop("n", None)  # no explicit setting: xda's default policy
        out[name, "default"] = _median_time(fn, repeat)
    xda.set_num_threads()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    idle = measure(a.repeat)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1)
        busy = measure(a.repeat)
    finally:
        spinner.kill()
    print(f"{xda.threads.describe()}; median of {a.repeat}; busy = one other process spinning on a core")
    print(f"| {'call':44s} | {'idle 1 thr':>10s} | {'idle 2 thr':>10s} | {'busy 1 thr':>10s} | {'busy 2 thr':>10s} | {'busy 2/1':>8s} | {'busy default':>12s} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 10}|{'-' * 14}|")
    for name in calls():
        i1, i2, b1, b2, bd = idle[name, 1], idle[name, 2], busy[name, 1], busy[name, 2], busy[name, "default"]
        print(f"| {name:44s} | {i1:9.3f}s | {i2:9.3f}s | {b1:9.3f}s | {b2:9.3f}s | {b2 / b1:8.2f} | {bd:11.3f}s |")


if __name__ == "__main__":
    main()
