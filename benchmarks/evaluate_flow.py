"""Flow-dependent real cases (issue 27): short-range persistence backgrounds of the January 1996 blizzard.

    python benchmarks/evaluate_flow.py [--leads 6 12 24] [--densities 0.02 0.1] [--max-cases 60]

Truths: the 6-hourly NCEP analyses of surface temperature ``t`` and the 500 hPa winds ``u500``,
``v500`` (20-60N, 1.25 x 2.5 deg, the analysis domain's full columns, times where all three are
complete). Background: the analysis ``lead`` hours earlier (persistence: the background error
moves with the storm, the regime where a static B is weakest). Archive of each case: the other
(background, truth) pairs of the same lead whose times are more than ``lead`` from the case's.
Observations: a random ``density`` of the grid points per variable (the same draws for every
row), Gaussian noise of 1 K / 2 m s-1. xda's empirical-Bayes prior is refitted leaving out every
``storm1996`` archive, so nothing of the blizzard informs the defaults.

Rows, per variable (RMSE at the withheld grid points, latitude-weighted):

* ``background``;
* ``reference archive OI``: the independent numpy OI of ``evaluate_oi.py`` (Gaussian, L by
  archive cross-validation at this case's positions), the reference of every ratio;
* ``OI, archive B``: ``BackgroundError.from_archive`` per variable, the strongest classical
  answer xda offers (the classical multivariate anchor: without heights in the state, the
  balanced anchor is this per-variable OI);
* ``OI, default B``: the empirical-Bayes B a user without an archive gets;
* ``anchored ...``: ``hs-t42-v2`` (knows ``t`` only; the winds get OI) on the default B, on the
  archive B, and on the archive B at full weight (``verify=False``);
* ``joint ...``: ``hs-t42-mv-v1`` (state t, u500, v500 here; z500 absent) on either B.

``x ref`` is the ratio of mean RMSEs with a 90 % paired-bootstrap interval over cases; ``x arch``
the same against ``OI, archive B``. ``--stations``: the hourly SAO station reports, each hour's
background the previous hour's analysis (cycled; see ``STATIONS_NOTE``). Writes
benchmarks/results/flow.md.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_oi as eo  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "flow.md"
STATIONS_NOTE = ("`python benchmarks/evaluate_flow.py --stations`: SAO/METAR temperatures of 1995-03-18, 00-23 UTC, on "
                 "the MPI-ESM T63 grid over North America (15-65N, 135-60W); hour 0's background is the March monthly "
                 "mean shifted by the median innovation, every later hour's is the previous hour's analysis of the same "
                 "method (cycled). A third of the stations (fixed by station id) is withheld all day, three times; scored "
                 "at the withheld stations (5-MAD outliers of O-B dropped), hours 1-23. No archive of gridded truths "
                 "exists for stations: the reference is the tuned OI (default B), the strongest classical answer here. "
                 "Observation error 1 K.")
VARIABLES = {"t": 1.0, "u500": 2.0, "v500": 2.0}  # observation-error std per variable
ARCHIVE_ROWS = ("OI, archive B", "anchored, archive B", "anchored, archive B, full weight", "joint, archive B")


def blizzard() -> xr.Dataset:
    """t, u500, v500 on the analysis domain's full columns, at the times all three are complete."""
    ds = xr.Dataset({v: xda.datasets.open_dataset(f"storm1996_{v}")[v] for v in VARIABLES}).isel(lon=slice(7, 29))
    ok = np.all([np.isfinite(ds[v].values).all(axis=(1, 2)) for v in VARIABLES], axis=0)
    return ds.isel(time=np.flatnonzero(ok))


def cases(ds: xr.Dataset, lead_steps: int):
    """(truth, background, archive backgrounds, archive truths) Datasets per case (evaluate_oi's persistence)."""
    per_var = {v: list(eo.persistence_cases(ds[v], lead_steps)) for v in VARIABLES}
    for k in range(len(per_var["t"])):
        parts = [xr.Dataset({v: per_var[v][k][i] for v in VARIABLES}) for i in range(4)]
        yield tuple(parts)


def observe(truth: xr.Dataset, density: float, rng) -> tuple[xr.Dataset, dict]:
    """Gridded observations of every variable (NaN = unobserved) and the masks."""
    obs, masks = {}, {}
    for v, so in VARIABLES.items():
        tv = truth[v].values
        m = rng.random(tv.shape) < density
        if m.sum() < 3:
            m.ravel()[rng.choice(m.size, 3, replace=False)] = True
        obs[v] = truth[v].copy(data=np.where(m, tv + rng.normal(0, so, tv.shape), np.nan))
        masks[v] = m
    return xr.Dataset(obs), masks


def analyses(bg, obs, arch_bg, arch_truth, masks, candidate: str | None = None) -> dict:
    """{row: analysis Dataset} for one case (with ``candidate``, another anchored model's three rows too)."""
    err = {v: (arch_bg[v] - arch_truth[v]).transpose("time", "lat", "lon").values for v in VARIABLES}
    g = xda.labeled.grid.grid_of(bg)
    ref = xr.Dataset({v: bg[v].copy(data=eo.reference_oi(bg[v].values, obs[v].values[masks[v]], masks[v], err[v],
                                                         g.lat, g.lon, so)) for v, so in VARIABLES.items()})
    arch = {v: xda.BackgroundError.from_archive(arch_bg[v], arch_truth[v], obs[v], obs_error=so)
            for v, so in VARIABLES.items()}
    run = lambda **kw: xda.assimilate(bg, obs, obs_error=VARIABLES, seed=0, **kw)  # noqa: E731
    rows = {"background": bg, "reference archive OI": ref,
            "OI, archive B": run(method="oi", background_error=arch), "OI, default B": run(method="oi"),
            "anchored, default B": run(), "anchored, archive B": run(background_error=arch),
            "anchored, archive B, full weight": run(background_error=arch, verify=False),
            "joint, default B": run(model="hs-t42-mv-v1"), "joint, archive B": run(model="hs-t42-mv-v1", background_error=arch)}
    if candidate is not None:
        rows.update({"candidate, default B": run(model=candidate),
                     "candidate, archive B": run(model=candidate, background_error=arch),
                     "candidate, archive B, full weight": run(model=candidate, background_error=arch, verify=False)})
    return rows


def score(rows: dict, truth: xr.Dataset, masks: dict) -> dict:
    """{(variable, row): RMSE at the withheld points, latitude-weighted}."""
    w = np.cos(np.deg2rad(truth["lat"].values))[:, None]
    out = {}
    for v in VARIABLES:
        keep = ~masks[v]
        ww = np.broadcast_to(w, keep.shape)[keep]
        for row, a in rows.items():
            d = (a[v].transpose("lat", "lon").values - truth[v].values)[keep]
            out[(v, row)] = float(np.sqrt(np.sum(ww * d**2) / ww.sum()))
    return out


def summarise(scores: list[dict], variable: str, n_boot: int = 2000) -> list[str]:
    """Table rows of one variable: mean RMSE, x ref and x arch with 90 % paired-bootstrap intervals."""
    rows = [r for (v, r) in scores[0] if v == variable]
    x = {r: np.array([s[(variable, r)] for s in scores]) for r in rows}

    def ratio(r, ref):
        value, lo, hi = eo.bootstrap_ratio(x[r], x[ref], (5, 95), n_boot)
        return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"

    return [f"| {variable} | {r} | {x[r].mean():.3g} | {ratio(r, 'reference archive OI')} | {ratio(r, 'OI, archive B')} |"
            for r in rows]


def run_set(ds: xr.Dataset, lead_h: int, density: float, max_cases: int, candidate: str | None = None) -> tuple[list[str], int]:
    """The table of one lead and density."""
    all_cases = list(cases(ds, lead_h // 6))
    pick = np.linspace(0, len(all_cases) - 1, min(max_cases, len(all_cases))).round().astype(int)
    rng, scores = np.random.default_rng(0), []
    for i in pick:
        truth, bg, arch_bg, arch_truth = all_cases[i]
        obs, masks = observe(truth, density, rng)
        scores.append(score(analyses(bg, obs, arch_bg, arch_truth, masks, candidate), truth, masks))
    lines = ["| variable | method | mean RMSE | x ref [90 %] | x arch [90 %] |", "|---|---|---|---|---|"]
    for v in VARIABLES:
        lines += summarise(scores, v)
    return lines, len(pick)


# ----------------------------------------------------------------------------- hourly stations, cycled


def station_hours(region=(15.0, 65.0, 225.0, 300.0)) -> tuple[xr.DataArray, dict]:
    """The MPI-ESM March tas on the region (the first background) and the SAO reports per hour (degC)."""
    import pandas as pd

    s = xda.datasets.open_dataset("sao_stations")
    esm = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=2, drop=True)
    bg0 = esm.sel(lat=slice(region[0], region[1]), lon=slice(region[2], region[3])).rename("tas")
    df = pd.DataFrame({"station": s["station"].values, "lat": s["lat"].values, "lon": s["lon"].values % 360,
                       "tas": s["T"].values, "hour": s["hour"].values}).dropna()
    from xda.numerics.interp import bilinear_weights

    _, inside = bilinear_weights(bg0["lat"].values, bg0["lon"].values, df["lat"].values, df["lon"].values, periodic=False)
    df = df[inside]
    return bg0, {h: g.drop_duplicates("station").reset_index(drop=True) for h, g in df.groupby("hour")}


def _at(field: xr.DataArray, df) -> np.ndarray:
    """``field`` (K) at the stations of ``df``, bilinearly."""
    from xda.numerics.interp import apply, bilinear_weights

    op, _ = bilinear_weights(field["lat"].values, field["lon"].values, df["lat"].values, df["lon"].values, periodic=False)
    return apply(op, field.transpose("lat", "lon").values)


def station_cycle(bg0, hours: dict, test: set, rows: dict) -> list[dict]:
    """One cycle through the day withholding the stations ``test``: each row's analysis of hour h is its
    background at hour h + 1. Returns per hour >= 1 {row: RMSE at the withheld stations (K)}."""
    first = hours[min(hours)]
    train0 = first[~first.station.isin(test)]
    shift = float(np.median(train0.tas.values + 273.15 - _at(bg0, train0)))
    bgs = {r: (bg0 + shift).assign_attrs(bg0.attrs) for r in rows}
    out = []
    for h in sorted(hours):
        df = hours[h]
        train, withheld = df[~df.station.isin(test)], df[df.station.isin(test)]
        obs = train[["lat", "lon", "tas"]].copy()
        obs.attrs["units"] = {"tas": "degC"}
        truth = withheld.tas.values + 273.15
        d = truth - _at(bgs["background"], withheld)
        keep = np.abs(d - np.median(d)) < 5 * 1.4826 * np.median(np.abs(d - np.median(d))) + 1e-9
        scores = {"background": _at(bgs["background"], withheld)}
        for r, kw in rows.items():
            if kw is not None:
                a = xda.assimilate(bgs[r], obs, obs_error=1.0, seed=0, **kw)
                scores[r], bgs[r] = _at(a, withheld), a.drop_vars("tas_standard_error", errors="ignore").reset_coords(drop=True)
        bgs["background"] = bgs["OI, default B"]
        if h > min(hours):
            out.append({r: float(np.sqrt(np.mean((v - truth)[keep] ** 2))) for r, v in scores.items()})
    return out


def run_stations(folds: int = 3) -> tuple[list[str], int]:
    """The hourly station cycles, ``folds`` of withheld stations (fixed by station id for the whole day)."""
    bg0, hours = station_hours()
    stations = sorted(set().union(*(set(g.station) for g in hours.values())))
    fold = dict(zip(stations, np.random.default_rng(0).permutation(len(stations)) % folds))
    rows = {"background": None, "OI, default B": {"method": "oi"}, "anchored, default B": {}}
    cases = []
    for f in range(folds):
        cases += station_cycle(bg0, hours, {s for s in stations if fold[s] == f}, rows)
    x = {r: np.array([c[r] for c in cases]) for r in cases[0]}
    lines = ["| variable | method | mean RMSE | x OI [90 %] |", "|---|---|---|---|"]
    for r in x:
        value, lo, hi = eo.bootstrap_ratio(x[r], x["OI, default B"], (5, 95))
        lines.append(f"| tas | {r} | {x[r].mean():.3g} | {value:.3f} [{lo:.3f}, {hi:.3f}] |")
    return lines, len(cases)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leads", type=int, nargs="+", default=[6, 12, 24], help="hours (multiples of 6)")
    p.add_argument("--densities", type=float, nargs="+", default=[0.02, 0.1])
    p.add_argument("--max-cases", type=int, default=60)
    p.add_argument("--stations", action="store_true", help="only the hourly station cycles (appended to the results)")
    p.add_argument("--candidate", help="another anchored model (path of its .safetensors): three more rows")
    p.add_argument("--out", type=Path, default=RESULTS, help="the results file (--stations appends to it)")
    a = p.parse_args()
    if a.stations:
        t0 = time.perf_counter()
        lines, n = run_stations()
        text = [f"## Hourly stations, previous hour's analysis as background, {n} cases ({time.perf_counter() - t0:.0f} s)", "",
                STATIONS_NOTE, "", *lines, ""]
        with a.out.open("a") as f:
            f.write("\n".join(text) + "\n")
        print("\n".join(text))
        return 0
    eo.use_prior_without(eo.prior_fits(), "storm1996")
    ds = blizzard()
    out = ["# Flow-dependent real cases: blizzard persistence backgrounds", "",
           f"`python benchmarks/evaluate_flow.py --leads {' '.join(map(str, a.leads))} --densities "
           f"{' '.join(map(str, a.densities))} --max-cases {a.max_cases}"
           + (f" --candidate {Path(a.candidate).name}" if a.candidate else "")
           + f"` ({time.strftime('%Y-%m-%d')}, 2 CPU cores). "
           "See the script's docstring for the cases and rows.", ""]
    for lead in a.leads:
        for density in a.densities:
            t0 = time.perf_counter()
            lines, n = run_set(ds, lead, density, a.max_cases, a.candidate)
            out += [f"## {lead} h persistence, {density:.0%} observed, {n} cases ({time.perf_counter() - t0:.0f} s)", "",
                    *lines, ""]
            print("\n".join(out[-len(lines) - 3:]), flush=True)
            a.out.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
