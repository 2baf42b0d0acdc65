"""Residency and throughput on the device: one command for a GPU node (runs on the CPU too).

    python benchmarks/gpu.py [--device cuda] [--batches 1 8 32 128] [--repeat 5]

Reports, on the device it finds (CUDA when there is one):

* the **network in batches**: posterior-mean evaluations per second of the anchored assimilation
  model at 64 x 128 (one evaluation is one analysis's learned correction) and of the downscaling
  regression at 96 x 192, for each batch size, with the device's peak memory;
* **latency through the API**: the first call of ``assimilate`` (a fresh process state: the model
  read, verified and moved to the device) and the warm call (the model resident, cached by
  ``xda.models.registry``), for the OI with a given B plus the learned correction without
  verification (the network path) and for the default; the same for ``downscale``;
* **downscaled fields per second** through ``downscale(method="regression")`` of a batch of 32
  real MPI-ESM fields, x2;
* **analyses per second** through ``assimilate`` of a series of 32 times at 64 x 128 on one
  observation network (5 %, a given B: one OI factorisation for all), the learned correction with
  and without its verification: the times' network evaluations share batches
  (:func:`xda.tasks.batching.together`).

The OI and the verification run on the CPU whatever the device (scipy). Writes
benchmarks/results/gpu.md with the date and the device.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import xda
from xda.models import anchored, registry
from xda.models.downscaling import FEATURES, AnchoredDownscaler

warnings.filterwarnings("ignore")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn`` after one warm-up."""
    fn()
    sync(device)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def evaluation(net, b: int, shape: tuple, device: str):
    """One posterior-mean evaluation of a batch of ``b`` random inputs: the downscaler's regression, or the
    assimilation model's head."""
    if isinstance(net, AnchoredDownscaler):
        x = torch.randn((b, len(FEATURES), *shape), device=device)
        return lambda: net.regress(x, True)
    cond = torch.randn((b, net.config["cond_channels"], *shape), device=device)
    var = torch.zeros((b,), dtype=torch.long, device=device)
    return lambda: anchored.posterior_mean(net, cond, var, True)


def network_rows(device: str, batches, repeat: int) -> list:
    """(model, grid, batch, evaluations/s, peak MB) of the posterior-mean evaluation in batches."""
    rows = []
    for name, shape in ((xda.models.cards.DEFAULT_MODEL, (64, 128)), (xda.models.cards.DEFAULT_DOWNSCALING_MODEL, (96, 192))):
        net, card = registry.load_model(name, device=device)
        for b in batches:
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            with torch.no_grad():
                t = timed(evaluation(net, b, shape, device), device, repeat)
            peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")
            rows.append((name, f"{shape[0]} x {shape[1]}", b, b / t, peak))
            print(rows[-1], flush=True)
    return rows


def api_rows(device: str, repeat: int) -> list:
    """(call, first-call s, warm s) through assimilate and downscale."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    bg = z.isel(time=slice(1, None)).mean("time").assign_attrs(z.attrs).interp(
        lat=np.linspace(-87.2, 87.2, 64), lon=np.arange(128) * 2.8125, kwargs={"fill_value": None})
    truth = z.isel(time=0).interp(lat=bg["lat"], lon=bg["lon"], kwargs={"fill_value": None})
    obs = truth.where(np.random.default_rng(0).random(truth.shape) < 0.05)
    be = xda.BackgroundError.constant(40.0, 1.5e6)
    tas = xda.coarsen(xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=slice(0, 4)), 2)
    calls = {"assimilate, given B, no verification (the network path)":
             lambda: xda.assimilate(bg, obs, background_error=be, verify=False, device=device),
             "assimilate, default (tuned B, verified)": lambda: xda.assimilate(bg, obs, device=device),
             "downscale x2, regression, 4 fields": lambda: xda.downscale(tas, 2, method="regression", device=device),
             "downscale x2, default, 4 fields": lambda: xda.downscale(tas, 2, device=device)}
    rows = []
    for name, fn in calls.items():
        registry.clear_cache()
        t0 = time.perf_counter()
        fn()
        sync(device)
        first = time.perf_counter() - t0
        rows.append((name, first, timed(fn, device, repeat)))
        print(rows[-1], flush=True)
    return rows


def fields_per_second(device: str, repeat: int) -> float:
    tas = xda.datasets.open_dataset("esm_tas")[["tas"]]
    tas = xr.concat([tas] * 3, "time").isel(time=slice(0, 32)).assign_coords(time=np.arange(32))
    coarse = xda.coarsen(tas, 2)
    return 32 / timed(lambda: xda.downscale(coarse, 2, method="regression", device=device), device, max(1, repeat // 2))


def analyses_per_second(device: str, repeat: int) -> list:
    """(call, analyses/s) of a 32-time series through ``assimilate`` (see the module docstring)."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    grid = dict(lat=np.linspace(-87.2, 87.2, 64), lon=np.arange(128) * 2.8125)
    truth = xr.concat([z] * 2, "time").isel(time=slice(0, 32)).assign_coords(
        time=np.datetime64("1958-01-01") + np.arange(32) * np.timedelta64(1, "D"))
    truth = truth.interp(**grid, kwargs={"fill_value": None}).assign_attrs(z.attrs)
    bg = (truth.isel(time=slice(1, None)).mean("time") + 0.0 * truth).assign_attrs(z.attrs)
    obs = truth.where(np.random.default_rng(0).random(truth.shape[1:]) < 0.05)
    be = xda.BackgroundError.constant(40.0, 1.5e6)
    rows = []
    for name, verify in (("learned correction, no verification", False), ("learned correction, verified", True)):
        rows.append((name, 32 / timed(lambda v=verify: xda.assimilate(bg, obs, background_error=be, verify=v, device=device),
                                      device, max(1, repeat // 2))))
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    name = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    net = network_rows(a.device, a.batches, a.repeat)
    api = api_rows(a.device, a.repeat)
    fps = fields_per_second(a.device, a.repeat)
    aps = analyses_per_second(a.device, a.repeat)
    lines = [f"# On the device: {name}", "", f"`python benchmarks/gpu.py --device {a.device}` ({time.strftime('%Y-%m-%d')}, "
             f"torch {torch.__version__})", "", "## The network in batches (posterior-mean evaluations)", "",
             "| model | grid | batch | evaluations/s | peak device memory (MB) |", "|---|---|---|---|---|"]
    lines += [f"| {m} | {g} | {b} | {r:.1f} | {pk:.0f} |" for m, g, b, r, pk in net]
    lines += ["", "## Latency through the API", "", "| call | first call (s) | warm (s) |", "|---|---|---|"]
    lines += [f"| {c} | {f:.3f} | {w:.3f} |" for c, f, w in api]
    lines += ["", f"Downscaled fields per second (regression, x2 to 96 x 192, a batch of 32 real fields): {fps:.1f}"]
    lines += ["", "## Analyses per second (a series of 32 times, 64 x 128, 5 % on one network, given B)", "",
              "| call | analyses/s |", "|---|---|"] + [f"| {c} | {r:.1f} |" for c, r in aps]
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "results" / "gpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
