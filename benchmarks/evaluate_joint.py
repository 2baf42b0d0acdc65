"""Ablation of the multivariate models (issue 11): every variant next to tuned OI on the same cases.

    python benchmarks/evaluate_joint.py --sim ~/.cache/xda/hs_t42_mv_s0.nc \\
        --model hs-t42-mv-v1 --model hs-t42-mv-prdo-v1 --model hs-t42-mv-vre-v1 [--n-times 8] [--members 8]

Methods (rows), per variable of the state (z500, tas, u500, v500):

* ``background``;
* ``OI``: tuned univariate OI of each observed variable (``method="oi"``); unobserved
  variables keep the background;
* ``balanced OI``: the classical multivariate anchor of the joint models (OI, winds given
  the balanced increment of the heights): a joint model with a zero network;
* ``hs-t42-v2``: the univariate anchored model of the assimilation issue (z500, tas);
* each ``--model``: the posterior-mean head (``members=1``), cross-validated weight on;
* ``<model> mean of M``: M members of 8 Heun steps (first model only, ``--members``, densities <= 2 %),
  for spread/skill;
* ``<latent model> + LO, mean of 4``: LO-SDA (``latent_optimization=True``), the mean of 4
  samples of 8 steps.

Columns: RMSE at the points not assimilated (latitude-weighted), ``x OI`` with a paired
bootstrap 90 % interval over the cases, ``SD iso``: ChaosBench's spectral divergence
(isotropic spectra, top 10 % of wavenumbers, x 1e3), ``SD zonal`` (zonal spectra,
20-70 deg rows, x 1e3), ``balance``: rms geostrophic residual of the analysed winds
(20-70 deg, m s-1; the truth's on the ``truth`` row), ``s``: seconds per analysis,
``nfe``: network evaluations.

Case sets: the held-out simulation (test split) with 0.5, 1, 2, 5 and 10 % of grid
points observed (all variables, noise z 10 m, tas 0.5 K, winds 1.5 m s-1); the same with
z500 alone observed (the winds from heights); the 1996 blizzard (real: tas, u500, v500,
background the analysis 12 h before, 2 % of points observed); NCEP monthly z500
(real, global, leave-one-field-out climatology background, 2 %).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import xda
import xda.models.cards
from xda.labeled.grid import latitude_weights
from xda.numerics import stencils

warnings.filterwarnings("ignore", message="QC rejected")
#: Latent models among --model (they also run LO-SDA), and its members.
LATENT: set = set()
LO_MEMBERS = 4
NOISE = {"z500": 10.0, "tas": 0.5, "u500": 1.5, "v500": 1.5}
ATTRS = {"z500": ("geopotential_height", "m"), "tas": ("air_temperature", "K"), "u500": ("eastward_wind", "m s-1"),
         "v500": ("northward_wind", "m s-1")}


class Table:
    """Per (case set, method, variable): squared errors per case, spectral and balance scores, timings."""

    def __init__(self):
        self.sse, self.w, self.extra = {}, {}, {}

    def add(self, label, method, var, sse, w):
        self.sse.setdefault((label, var), {}).setdefault(method, []).append(sse)
        if method == "OI":
            self.w.setdefault((label, var), []).append(w)

    def note(self, label, method, var, key, value):
        self.extra.setdefault((label, method, var, key), []).append(value)

    def rows(self, seed=0) -> list[dict]:
        out = []
        for (label, var), by_method in self.sse.items():
            ref = np.asarray(by_method["OI"])
            w = np.asarray(self.w[(label, var)])
            boot = np.random.default_rng(seed).integers(len(ref), size=(2000, len(ref)))
            for m, sse in by_method.items():
                sse = np.asarray(sse)
                lo, hi = np.percentile(np.sqrt(sse[boot].sum(1) / ref[boot].sum(1)), [5, 95])
                row = dict(case=label, variable=var, method=m, rmse=np.sqrt(sse.sum() / w.sum()),
                           x_oi=np.sqrt(sse.sum() / ref.sum()), ci90=f"{lo:.2f}-{hi:.2f}")
                for key in ("SD iso", "SD zonal", "balance", "s", "nfe", "spread/skill"):
                    vals = self.extra.get((label, m, var, key))
                    if vals:
                        row[key] = float(np.sqrt(np.sum(vals[0::2]) / np.sum(vals[1::2]))) if key == "spread/skill" else float(np.mean(vals))
                out.append(row)
            for key in ("balance", "SD iso"):
                vals = self.extra.get((label, "truth", var, key))
                if vals:
                    out.append(dict(case=label, variable=var, method="truth", **{key: float(np.mean(vals))}))
        return out


def zero_clone(model: str, directory: Path) -> str:
    """Register a copy of a joint model with a zero network (the classical anchor) under ``<model>-anchor``."""
    from xda.models import registry
    from xda.models.joint import JointDenoiser

    _, card = registry.load_model(model, device="cpu")
    card = {k: v for k, v in card.items() if k not in ("sha256", "name", "network")}
    net = JointDenoiser(**registry.load_model(model, device="cpu")[1]["network"])
    registry.save_model(net, card, directory, f"{model}-anchor")
    return f"{model}-anchor"


def balance_rms(ds: xr.Dataset) -> float:
    lat, lon = ds["lat"].values, ds["lon"].values
    geo = stencils.geometry(lat, lon, bool(np.isclose(lon.size * (lon[1] - lon[0]), 360.0)))
    ru, rv = stencils.geostrophic_residual(ds["z500"].values, ds["u500"].values, ds["v500"].values, geo, 20.0)
    band = (np.abs(lat) >= 20) & (np.abs(lat) <= 70)
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[band, None], ru[band].shape)
    return float(np.sqrt(np.nansum(w * (ru[band] ** 2 + rv[band] ** 2)) / np.sum(w)))


def spectral_scores(a: xr.DataArray, truth: xr.DataArray) -> tuple[float, float]:
    iso = float(xda.spectral_divergence(a, truth, kind="isotropic", top=0.1))
    lat = truth["lat"].values
    zonal = xda.spectral_divergence(a, truth).values[(np.abs(lat) >= 20) & (np.abs(lat) <= 70)]
    return 1e3 * iso, 1e3 * float(np.nanmean(zonal))


def run_methods(bg: xr.Dataset, obs: xr.Dataset, models: list, anchor: str | None, members: int, seed: int) -> dict:
    """{method: (analysis Dataset, seconds, nfe)}."""
    err = {v: NOISE[v] for v in obs.data_vars}
    out = {"background": (bg, 0.0, 0)}

    def timed(name, fn):
        t0 = time.perf_counter()
        a = fn()
        out[name] = (a, time.perf_counter() - t0, int(a.attrs.get("xda_nfe", 0)))

    timed("OI", lambda: xr.merge([xda.assimilate(bg[list(obs.data_vars)], obs, method="oi", obs_error=err), bg],
                                 compat="override", combine_attrs="override"))  # the first wins: analysed, then the rest
    if anchor is not None:
        timed("balanced OI", lambda: xda.assimilate(bg, obs, model=anchor, verify=False, obs_error=err))
    uni = [v for v in obs.data_vars if v in ("z500", "tas")]
    if uni:
        timed("hs-t42-v2", lambda: xr.merge([xda.assimilate(bg[uni], obs[uni], obs_error={v: err[v] for v in uni}), bg],
                                            compat="override", combine_attrs="override"))
    for m in models:
        timed(m, lambda m=m: xda.assimilate(bg, obs, model=m, obs_error=err))
        if m in LATENT and LO_MEMBERS:
            timed(f"{m} + LO, mean of {LO_MEMBERS}", lambda m=m: xda.assimilate(
                bg, obs, model=m, obs_error=err, latent_optimization=True, members=LO_MEMBERS, seed=seed, steps=8).mean("member", keep_attrs=True))
    if members > 1 and models:
        timed(f"{models[0]} mean of {members}",
              lambda: xda.assimilate(bg, obs, model=models[0], obs_error=err, members=members, seed=seed, steps=8))
    return out


def score_case(table: Table, label: str, truth: xr.Dataset, bg, obs, models, anchor, members, seed, variables):
    lat = truth["lat"].values
    preds = run_methods(bg, obs, models, anchor, members, seed)
    for var in variables:
        observed = obs[var].notnull().values if var in obs else np.zeros(truth[var].shape, bool)
        w = np.broadcast_to(latitude_weights(lat)[:, None], truth[var].shape)
        keep = ~observed & np.isfinite(truth[var].values)
        for m, (a, sec, nfe) in preds.items():
            f = a[var]
            if "member" in f.dims:
                mean = f.mean("member")
                spread = f.var("member", ddof=1).values
                m_err = (mean.values - truth[var].values) ** 2
                table.note(label, m, var, "spread/skill", float(np.sum((w * spread * (members + 1) / members)[keep])))
                table.note(label, m, var, "spread/skill", float(np.sum((w * m_err)[keep])))
                f = mean
            table.add(label, m, var, float(np.sum((w * (f.values - truth[var].values) ** 2)[keep])), float(np.sum(w[keep])))
            table.note(label, m, var, "s", sec)
            table.note(label, m, var, "nfe", nfe)
            if truth.sizes["lon"] * abs(float(truth["lon"][1] - truth["lon"][0])) >= 359.0:
                iso, zonal = spectral_scores(f, truth[var])
                table.note(label, m, var, "SD iso", iso)
                table.note(label, m, var, "SD zonal", zonal)
        if var == "u500" and {"z500", "u500", "v500"} <= set(truth.data_vars):
            for m, (a, _, _) in preds.items():
                table.note(label, m, "u500", "balance", balance_rms(a.mean("member") if "member" in a.dims else a))
            table.note(label, "truth", "u500", "balance", balance_rms(truth))


def osse(table, sim: Path, n_times: int, densities, observed_sets, models, anchor, members):
    ds = xr.open_dataset(sim)
    test = np.flatnonzero(ds["split"].values == "test")
    times = test[np.linspace(0, test.size - 1, n_times).astype(int)]
    rng = np.random.default_rng(0)
    for observed in observed_sets:
        for density in densities:
            label = f"OSSE, {'+'.join(observed) if len(observed) < 4 else 'all'} observed, {density:.1%}"
            t0 = time.perf_counter()
            for k, t in enumerate(times):
                truth, bg = (xr.Dataset({v: ds[f"{v}_{kind}"].isel(time=t, drop=True).assign_attrs(
                    standard_name=ATTRS[v][0], units=ATTRS[v][1]) for v in ATTRS}) for kind in ("truth", "background"))
                mask = rng.random(truth["z500"].shape) < density
                obs = xr.Dataset({v: (truth[v] + rng.normal(0, NOISE[v], mask.shape)).where(mask).assign_attrs(truth[v].attrs)
                                  for v in observed})
                score_case(table, label, truth, bg, obs, models, anchor, members if density <= 0.02 else 0, k, list(ATTRS))
            print(f"{label}: {time.perf_counter() - t0:.0f} s", flush=True)


def _largest_box(ok: np.ndarray) -> dict:
    """The largest rectangle of True in a 2-D mask, as isel slices (the blizzard's fields are NaN in the corners)."""
    best, box = 0, None
    for r0 in range(ok.shape[0]):
        for r1 in range(r0, ok.shape[0]):
            cols = ok[r0 : r1 + 1].all(axis=0)
            run, start = 0, 0
            for j, c in enumerate(np.append(cols, False)):
                if c:
                    run += 1
                    continue
                if run * (r1 - r0 + 1) > best:
                    best, box = run * (r1 - r0 + 1), dict(lat=slice(r0, r1 + 1), lon=slice(j - run, j))
                run = 0
    return box


def blizzard(table, models, anchor, lag: int = 2, density: float = 0.02, n: int = 8):
    """Real: the 1996 blizzard (surface T as tas, 500 hPa winds), background = the field 12 h before."""
    parts = {"tas": ("storm1996_t", "t"), "u500": ("storm1996_u500", "u500"), "v500": ("storm1996_v500", "v500")}
    fields = {v: xda.datasets.open_dataset(f)[name] for v, (f, name) in parts.items()}
    good = np.all([np.isfinite(f.values).any(axis=(1, 2)) for f in fields.values()], axis=0)  # times with data
    ok = np.all([np.isfinite(f.values[good]).all(axis=0) for f in fields.values()], axis=0)
    box = _largest_box(ok)
    ds = xr.Dataset({v: f.isel(time=np.flatnonzero(good), **box).assign_attrs(standard_name=ATTRS[v][0], units=ATTRS[v][1])
                     for v, f in fields.items()})
    rng = np.random.default_rng(1)
    label = f"blizzard 1996 (real), {density:.0%} of tas, u500, v500, bg 12 h old"
    for t in np.linspace(lag, ds.sizes["time"] - 1, n).astype(int):
        truth, bg = ds.isel(time=t, drop=True), ds.isel(time=t - lag, drop=True)
        mask = rng.random(truth["tas"].shape) < density
        obs = xr.Dataset({v: (truth[v] + rng.normal(0, NOISE[v], mask.shape)).where(mask).assign_attrs(truth[v].attrs)
                          for v in parts})
        score_case(table, label, truth, bg, obs, models, anchor, 0, t, list(parts))
    print(f"{label}: done", flush=True)


def ncep(table, models, anchor, density: float = 0.02):
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    rng = np.random.default_rng(2)
    label = f"NCEP z500 global (real), {density:.0%}, climatology background"
    for k in range(z.sizes["time"]):
        truth = z.isel(time=k, drop=True).to_dataset(name="z500")
        bg = z.drop_isel(time=k).mean("time").assign_attrs(z.attrs).to_dataset(name="z500")
        mask = rng.random(truth["z500"].shape) < density
        obs = (truth["z500"] + rng.normal(0, 10.0, mask.shape)).where(mask).assign_attrs(z.attrs).to_dataset(name="z500")
        score_case(table, label, truth, bg, obs, models, anchor, 0, k, ["z500"])
    print(f"{label}: done", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", default="~/.cache/xda/hs_t42_mv_s0.nc")
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--n-times", type=int, default=8)
    p.add_argument("--members", type=int, default=0)
    p.add_argument("--densities", default="0.005,0.01,0.02,0.05,0.1")
    p.add_argument("--skip", nargs="*", default=[])
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "joint.md"))
    a = p.parse_args(argv)
    table, t0 = Table(), time.perf_counter()
    tmp = Path(tempfile.mkdtemp())
    os.environ["XDA_WEIGHTS_DIR"] = str(tmp)
    for m in a.model:  # models may live in the package or in a directory given as path/name
        if "/" in m:
            src = Path(m).expanduser()
            for ext in (".json", ".safetensors"):
                (tmp / (src.name + ext)).write_bytes(Path(str(src) + ext).read_bytes())
    models = [Path(m).name for m in a.model]
    from xda.models.cards import architecture, load_card

    LATENT.update(m for m in models if architecture(load_card(m)) == "latent")
    anchor = zero_clone(models[0], tmp) if models else None
    densities = [float(x) for x in a.densities.split(",")]
    if "osse" not in a.skip:
        osse(table, Path(a.sim).expanduser(), a.n_times, densities, [tuple(ATTRS)], models, anchor, a.members)
    if "heights" not in a.skip:
        osse(table, Path(a.sim).expanduser(), a.n_times, [0.01, 0.05], [("z500",)], models, anchor, 0)
    if "blizzard" not in a.skip:
        blizzard(table, models, anchor)
    if "ncep" not in a.skip:
        ncep(table, models, anchor)
    df = pd.DataFrame(table.rows())
    text = df.to_markdown(index=False, floatfmt=".3g")
    print(text)
    cards = {m: json.loads((next(d for d in xda.models.cards.weights_dirs() if (d / f"{m}.json").exists()) / f"{m}.json").read_text())
             for m in models}
    import sys

    header = (f"Command: `python benchmarks/evaluate_joint.py {' '.join(argv if argv is not None else sys.argv[1:])}` "
              f"({time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPU cores)\n\n"
              + "".join(f"- `{m}`: encoder {c.get('encoder')}, physics weight {c['training'].get('physics_weight')}, "
                        f"{c['training'].get('steps')} steps\n" for m, c in cards.items()))
    Path(a.out).write_text(f"{header}\n{text}\n")


if __name__ == "__main__":
    main()
