"""Latency of downscaling real MPI-ESM fields x4: bicubic (the reference) vs xda, same run.

    python benchmarks/downscaling_speed.py [--repeat 3] [--device cpu] [--times 1]

Prints a table: seconds per call (median of ``--repeat``), the ratio to bicubic, and
fields (members x times) per second. The default call returns the verified estimate (the
regression weighted by its skill one level up, no sampling); members are sampled. Input: MPI-ESM-LR 2005 monthly tas with uas/vas (T63, 96 x 192)
block-averaged to 24 x 48, downscaled back to 96 x 192 through the public
``ds.phyda.downscale`` (coordinates, units, orography from ETOPO20 included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import xarray as xr

import xda


def coarse_case(n_times: int) -> xr.Dataset:
    t = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=slice(0, n_times))
    for v in ("uas", "vas"):
        t[v] = xda.datasets.open_dataset(f"esm_{v}")[v].isel(time=slice(0, n_times))
    return xda.coarsen(t, 4)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default=None)
    p.add_argument("--times", type=int, default=1)
    a = p.parse_args()
    coarse = coarse_case(a.times)
    coarse.phyda.downscale(4, steps=2, seed=0, device=a.device)  # load the model once (cached)
    configs = [("bicubic (reference)", dict(method="bicubic")),
               ("lapse-rate", dict(method="lapse_rate")),
               ("xda regression", dict(method="regression", device=a.device)),
               ("xda default (the verified estimate)", dict(device=a.device)),
               ("xda, 8 members, 6 steps (default)", dict(members=8, device=a.device)),
               ("xda, 8 members, 16 steps", dict(steps=16, members=8, device=a.device))]
    rows = []
    for name, c in configs:
        ts = []
        for r in range(a.repeat):
            t0 = time.perf_counter()
            out = coarse.phyda.downscale(4, seed=r, **c)
            ts.append(time.perf_counter() - t0)
        sec = float(np.median(ts))
        rows.append(dict(method=name, seconds=sec, nfe_per_member=out["tas"].attrs.get("xda_nfe", 0),
                         fields_per_second=a.times * c.get("members", 1) / sec))
    df = pd.DataFrame(rows)
    df["ratio_to_bicubic"] = df["seconds"] / df["seconds"].iloc[0]
    import torch

    dev = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"downscale x4, {a.times} field(s) of 24 x 48 -> 96 x 192, device {dev}, torch threads {torch.get_num_threads()}")
    print(df.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
