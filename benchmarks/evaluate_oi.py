"""The classical anchor on real data, against the strongest classical answer: an archive-cross-validated OI.

    python benchmarks/evaluate_oi.py [--data ../shared/data] [--densities 0.005 0.02 0.1] [--xda 0.02]

Cases (real fields; each time in turn is the truth, the other times are the archive):

1. ``natl``: NCEP/NCAR DJF-mean z500 over the North Atlantic (65 winters, 2.5 deg); background
   the mean of the other winters (a climatology). Not in the prior's archives.
2. ``global``: NCEP/NCAR monthly z500, global 2.5 deg (21 months); background the mean of the others.
3. ``storm``: NCEP surface temperature of the January 1996 blizzard (6-hourly, 1.25 x 2.5 deg,
   the analysis domain's full columns); background the analysis 24 h earlier (persistence: a
   flow-dependent background error). The archive leaves out the pairs within 24 h of the case.

Observations: a random ``density`` of the grid points (the same draws for every row), with
Gaussian noise of 10 m / 1 K. Scored at the withheld grid points (latitude-weighted RMSE).

Rows:

* ``reference archive OI``: written here independently of xda in plain numpy/scipy, as a
  data-assimilation scientist would in twenty lines: per-point ``s_b`` from the archive, a
  Gaussian correlation of great-circle distance whose ``L`` (300-3000 km) minimises the error of
  analyses of the archive's own errors from pseudo-observations at this case's positions.
  Every ratio is against this row (``x ref``), with a 95 % paired-bootstrap interval over cases.
* ``xda OI, from_archive B``: ``BackgroundError.from_archive(archive, obs=this case)``.
* ``xda OI, default (no archive)``: ``method="oi"`` with the empirical-Bayes B, whose prior is
  refitted here *leaving out every archive from the same source* as the case (so no case
  informs its own prior; for ``global`` the geopotential prior then falls back to the generic one).
* ``xda default (learned)`` at ``--xda`` densities: the default call (OI anchor plus the
  verified learned correction), same prior handling.

``p95`` is the 95th percentile of the per-case ratio. Writes benchmarks/results/oi.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import xarray as xr

import xda
from xda.assimilation import covariance as be_mod

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fit_background_error_priors as priors  # noqa: E402

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results" / "oi.md"
TABLES = RESULTS.parent / "oi"
ORDER = ["natl", "global", "storm"]
FITS_CACHE = Path("/tmp/xda_prior_fits.json")


# ----------------------------------------------------------------------------- cases

def natl(data: Path) -> xr.DataArray:
    z = xr.open_dataset(data / "ncep_z500_djf_natl.nc")["z"].isel(pressure=0, drop=True).rename("z500")
    return z.assign_attrs(units="m", standard_name="geopotential_height")


def climatology_cases(z: xr.DataArray):
    """(truth, background, archive backgrounds, archive truths) per time: leave-one-out climatologies."""
    for k in range(z.sizes["time"]):
        others = z.drop_isel(time=k)
        n = others.sizes["time"]
        yield z.isel(time=k, drop=True), others.mean("time").assign_attrs(z.attrs), \
            ((others.sum("time") - others) / (n - 1)).assign_attrs(z.attrs), others


def persistence_cases(t: xr.DataArray, lag: int = 4):
    """Persistence ``lag`` steps old; the archive's pairs exclude those whose truth or background is within
    ``lag`` steps of the case's."""
    bg_all, truth_all = t.isel(time=slice(0, -lag)), t.isel(time=slice(lag, None))
    for k in range(truth_all.sizes["time"]):
        far = np.abs(np.arange(truth_all.sizes["time"]) - k) > lag
        bgs = bg_all.isel(time=far).assign_coords(time=truth_all.time.values[far]).assign_attrs(t.attrs)
        yield truth_all.isel(time=k, drop=True), bg_all.isel(time=k, drop=True).assign_attrs(t.attrs), bgs, \
            truth_all.isel(time=far)


def storm() -> xr.DataArray:
    t = xda.datasets.open_dataset("storm1996_t")["t"].isel(lon=slice(7, 29))  # the analysis domain's full columns
    return t.isel(time=np.flatnonzero(np.isfinite(t.values).all(axis=(1, 2))))


# ----------------------------------------------------------------------------- the reference OI

def _gc(lat1, lon1, lat2, lon2):
    """Great-circle distance (m), haversine."""
    p1, p2, dl = np.deg2rad(lat1)[:, None], np.deg2rad(lat2)[None, :], np.deg2rad(lon2[None, :] - lon1[:, None])
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6.371e6 * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def reference_oi(bg, obs_vals, mask, archive_err, lat, lon, so):
    """Independent archive OI (see the module docstring). All arrays on the (ny, nx) grid."""
    glat, glon = (a.ravel() for a in np.meshgrid(lat, lon, indexing="ij"))
    m = mask.ravel()
    e = archive_err.reshape(archive_err.shape[0], -1)
    s = np.sqrt((e**2).mean(0))
    d_oo, d_go = _gc(glat[m], glon[m], glat[m], glon[m]), _gc(glat, glon, glat[m], glon[m])
    noise = np.random.default_rng(1).normal(0, so, (e.shape[0], m.sum()))
    best = None
    for L in np.geomspace(3e5, 3e6, 15):
        K = s[m][:, None] * np.exp(-0.5 * (d_oo / L) ** 2) * s[m][None, :] + so**2 * np.eye(m.sum())
        G = s[:, None] * np.exp(-0.5 * (d_go / L) ** 2) * s[m][None, :]
        cf = scipy.linalg.cho_factor(K)
        est = G @ scipy.linalg.cho_solve(cf, (e[:, m] + noise).T)
        w = np.cos(np.deg2rad(glat))[~m]
        score = np.sum(w[:, None] * (est[~m] - e[:, ~m].T) ** 2)
        if best is None or score < best[0]:
            best = (score, cf, G)
    _, cf, G = best
    return (bg.ravel() + G @ scipy.linalg.cho_solve(cf, obs_vals - bg.ravel()[m])).reshape(bg.shape)


# ----------------------------------------------------------------------------- priors left out

def prior_fits() -> list[dict]:
    if FITS_CACHE.exists():
        return json.loads(FITS_CACHE.read_text())
    fits = [priors.fit_archive(name, da, bg, truth) for name, da, bg, truth in priors.archives()]
    FITS_CACHE.write_text(json.dumps(fits))
    return fits


def use_prior_without(fits: list[dict], source: str | None) -> None:
    """Make xda's prior the one fitted without the archives whose name starts with ``source``."""
    kept = [f for f in fits if source is None or not f["archive"].startswith(source)]
    table = priors.pooled(kept)
    be_mod._priors = lambda: table  # noqa: E731 (prior_for looks the table up through this function)


# ----------------------------------------------------------------------------- scoring

def run_case(truth, bg, arch_bg, arch_truth, density, so, rng, learned: bool) -> dict:
    g = xda.labeled.grid.grid_of(truth)
    lat, lon = g.lat, g.lon
    tv = truth.transpose(g.lat_dim, g.lon_dim).values
    bv = bg.transpose(g.lat_dim, g.lon_dim).values
    mask = rng.random(tv.shape) < density
    if mask.sum() < 3:
        mask.ravel()[rng.choice(mask.size, 3, replace=False)] = True
    yv = tv + rng.normal(0, so, tv.shape)
    obs = truth.copy(data=np.where(mask, yv, np.nan)).assign_attrs(bg.attrs)
    name = bg.name or "x"
    bg, obs = bg.rename(name), obs.rename(name)
    err = (arch_bg - arch_truth).transpose("time", g.lat_dim, g.lon_dim).values
    out = {"background": bv, "reference archive OI": reference_oi(bv, yv[mask], mask, err, lat, lon, so)}
    arch = xda.BackgroundError.from_archive(arch_bg, arch_truth, obs, obs_error=so)
    out["xda OI, from_archive B"] = xda.assimilate(bg, obs, method="oi", obs_error=so, background_error=arch).values
    out["xda OI, default (no archive)"] = xda.assimilate(bg, obs, method="oi", obs_error=so).values
    if learned:
        out["xda default (learned)"] = xda.assimilate(bg, obs, obs_error=so).values
    w = np.broadcast_to(np.cos(np.deg2rad(lat))[:, None], tv.shape)[~mask]
    return {k: float(np.sqrt(np.sum(w * (v - tv)[~mask] ** 2) / w.sum())) for k, v in out.items()}


def bootstrap_ratio(x: np.ndarray, ref: np.ndarray, percentiles=(2.5, 97.5), n_boot: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """``mean(x) / mean(ref)`` over paired cases, and the ``percentiles`` of that ratio over ``n_boot``
    resamples of the cases (the paired bootstrap; Efron & Tibshirani 1993, ch. 6)."""
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    lo, hi = np.percentile(x[idx].mean(1) / ref[idx].mean(1), percentiles)
    return float(x.mean() / ref.mean()), float(lo), float(hi)


def summarise(rows: list[dict], ref: str = "reference archive OI", n_boot: int = 2000) -> list[str]:
    r = {k: np.array([row[k] for row in rows]) for k in rows[0]}
    lines = []
    for k, v in r.items():
        ratio, lo, hi = bootstrap_ratio(v, r[ref], n_boot=n_boot)
        p95 = np.percentile(v / r[ref], 95)
        lines.append(f"| {k} | {v.mean():.3g} | {ratio:.3f} [{lo:.3f}, {hi:.3f}] | {p95:.3f} |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--densities", type=float, nargs="+", default=[0.005, 0.02, 0.1])
    p.add_argument("--xda", type=float, nargs="*", default=[0.02], help="densities at which the learned default runs")
    p.add_argument("--max-cases", type=int, default=30)
    p.add_argument("--cases", nargs="+", default=["natl", "global", "storm"], choices=["natl", "global", "storm"])
    a = p.parse_args()
    fits = prior_fits()
    cases = {"natl": (lambda: climatology_cases(natl(a.data)), None, 10.0),
             "global": (lambda: climatology_cases(xda.datasets.open_dataset("ncep_z500_global")["z500"]), "ncep_z500_global", 10.0),
             "storm": (lambda: persistence_cases(storm()), "storm1996_t", 1.0)}
    for case, (make, source, so) in cases.items():
        if case not in a.cases:
            continue
        use_prior_without(fits, source)
        for density in a.densities:
            rng = np.random.default_rng(0)
            all_cases = list(make())
            pick = np.linspace(0, len(all_cases) - 1, min(a.max_cases, len(all_cases))).round().astype(int)
            t0 = time.perf_counter()
            rows = [run_case(*all_cases[i], density, so, rng, density in a.xda) for i in pick]
            table = [f"## {case}, {density:.1%} observed, {len(rows)} cases ({time.strftime('%Y-%m-%d')}, "
                     f"{time.perf_counter() - t0:.0f} s)", "",
                     "| method | mean RMSE | x ref [95 %] | p95 |", "|---|---|---|---|", *summarise(rows), ""]
            TABLES.mkdir(parents=True, exist_ok=True)
            (TABLES / f"{ORDER.index(case)}-{case}-{density:.3f}.md").write_text("\n".join(table) + "\n")
            print("\n".join(table), flush=True)
            write_results()
    return 0


def write_results() -> None:
    """benchmarks/results/oi.md from every table written so far (one file per case and density)."""
    head = ["# The classical anchor against an archive-cross-validated OI (real data)", "",
            "`python benchmarks/evaluate_oi.py [--cases ...] [--densities ...] [--xda ...] [--max-cases 20]` (2 CPU "
            "cores); RMSE at withheld grid points; ratio of mean RMSE to the reference with a 95 % paired-bootstrap "
            "interval over cases; p95 = 95th percentile of the per-case ratio. The default's prior leaves out the "
            "case's own source. Each table is dated; tables come from `benchmarks/results/oi/`.", ""]
    RESULTS.write_text("\n".join(head + [f.read_text() for f in sorted(TABLES.glob("*.md"))]))


if __name__ == "__main__":
    sys.exit(main())
