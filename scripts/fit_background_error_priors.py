"""The empirical-Bayes prior of xda's default B, from real archives bundled with xda.

    python scripts/fit_background_error_priors.py            # writes xda/assimilation/background_error_priors.json

For each real archive below, ``BackgroundError.from_archive`` (per-point s_b, family and
L by cross-validation with pseudo-observations at 2 % of the grid points, inflation by
the pooled leave-one-out likelihood) gives the statistics of one kind of background:

* ``ncep_z500_global`` (NCEP/NCAR reanalysis z500, 21 global monthly means, 20 of them
  Februaries): the leave-one-out mean of the other months (a climatology);
* ``storm1996_*`` (NCEP analyses of the January 1996 blizzard, 6-hourly, North America:
  surface T, sea-level pressure, 10 m and 500 hPa winds): persistence 6 h and 24 h old,
  and the leave-one-out mean of the 16 days.

Not used: the bundled MPI-ESM 2005 monthly means (``esm_{tas,uas,vas}``). One year has
no climatology: the leave-one-out mean of the other months errs by the annual cycle
(tas: 15 K rms, L = 3200 km, inflation x 2.7), a background error no user has. As the
only other temperature archive it dominated the prior when the blizzard's was left out
(the analysis of 4 storm observations was then 1.5x the archive OI, worse than the
background).

Per CF standard name, the prior on ``log s_b`` (rms over the grid, the variable's units)
and on ``log L`` is Gaussian; its *shape* of ``s_b`` with latitude is the archives' mean
log ratio of the rms ``s_b`` in 10-degree bands to the rms over their grid (bands no
archive covers take the nearest covered band's); with the mean and spread of the archives' values (spread
floored at 0.7 for ``s_b`` and 0.35 for ``L``: a few archives understate how much
backgrounds differ); its family is the one that won most archives' cross-validation.
A variable without a prior of its own gets ``"*"``: no prior on ``s_b``, the pooled ``L``
of all archives with twice the floor of its spread, SOAR.
Data reserved for independent evaluation (see issue 23) is never read here, and neither
is the NCEP DJF North Atlantic archive, which the evaluation uses.

``archives()`` is importable so that the evaluation can refit the prior leaving out the
archive it scores on (``benchmarks/evaluate_oi.py``).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import xda

OUT = Path(xda.__file__).resolve().parent / "assimilation" / "background_error_priors.json"
#: Floors of the prior's spread (log units).
SD_FLOOR = {"sigma": 0.7, "length": 0.35}
#: Latitude bands (edges, degrees) of the prior's shape of s_b.
SHAPE_EDGES = np.arange(-90.0, 90.1, 10.0)


def _climatology(da: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """Each time's background: the mean of the other times (leave-one-out)."""
    n = da.sizes[dim]
    return ((da.sum(dim) - da) / (n - 1)).assign_attrs(da.attrs)


def _persistence(da: xr.DataArray, lag: int, dim: str = "time") -> tuple[xr.DataArray, xr.DataArray]:
    """(backgrounds, truths): the field ``lag`` steps earlier as the background."""
    bg = da.isel({dim: slice(0, -lag)})
    truth = da.isel({dim: slice(lag, None)})
    return bg.assign_coords({dim: truth[dim].values}).assign_attrs(da.attrs), truth


def archives():
    """(archive name, variable's standard name, backgrounds, truths) for every bundled archive."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    yield "ncep_z500_global climatology", z, _climatology(z), z
    for v in ("t", "p", "u", "v", "u500", "v500"):
        da = xda.datasets.open_dataset(f"storm1996_{v}")[v]
        yield f"storm1996_{v} persistence 6 h", da, *_persistence(da, 1)
        yield f"storm1996_{v} persistence 24 h", da, *_persistence(da, 4)
        yield f"storm1996_{v} climatology", da, _climatology(da), da


def fit_archive(name: str, da: xr.DataArray, bg: xr.DataArray, truth: xr.DataArray) -> dict:
    be = xda.BackgroundError.from_archive(bg, truth)
    g = xda.labeled.grid.grid_of(bg)
    w = np.broadcast_to(np.cos(np.deg2rad(g.lat))[:, None], g.shape)
    s = be.field.transpose(g.lat_dim, g.lon_dim).values
    rms = float(np.sqrt(np.sum(w * s**2) / np.sum(w)))
    return dict(archive=name, standard_name=da.attrs["standard_name"], units=str(da.attrs["units"]),
                sigma_rms=rms, length_m=be.length_scale, correlation=be.correlation, source=be.source,
                log_shape=_log_shape(np.broadcast_to(g.lat[:, None], g.shape), w, s, rms))


def _log_shape(lat, w, s, rms) -> list:
    """log(rms s_b in each 10-degree latitude band / rms over the grid); None where the archive has no point."""
    out = []
    for lo, hi in zip(SHAPE_EDGES[:-1], SHAPE_EDGES[1:]):
        m = (lat >= lo) & (lat < hi) if hi < 90 else (lat >= lo)
        out.append(float(np.log(np.sqrt(np.sum(w[m] * s[m] ** 2) / np.sum(w[m])) / rms)) if w[m].sum() > 0 else None)
    return out


def pooled(fits: list[dict]) -> dict:
    """Priors per standard name from archive fits (see the module docstring)."""
    out = {}
    for sn in sorted({f["standard_name"] for f in fits}):
        mine = [f for f in fits if f["standard_name"] == sn]
        ls, ll = np.log([f["sigma_rms"] for f in mine]), np.log([f["length_m"] for f in mine])
        kinds = [f["correlation"] for f in mine]
        out[sn] = dict(units=mine[0]["units"], log_sigma=float(ls.mean()),
                       sd_log_sigma=float(max(ls.std(), SD_FLOOR["sigma"])), log_length=float(ll.mean()),
                       sd_log_length=float(max(ll.std(), SD_FLOOR["length"])),
                       correlation=max(sorted(set(kinds)), key=kinds.count), n_archives=len(mine),
                       shape_lat=[float(c) for c in 0.5 * (SHAPE_EDGES[:-1] + SHAPE_EDGES[1:])],
                       log_shape=_pooled_shape([f.get("log_shape") for f in mine]))
    ll = np.log([f["length_m"] for f in fits])
    out["*"] = dict(units=None, log_sigma=0.0, sd_log_sigma=float("inf"), log_length=float(ll.mean()),
                    sd_log_length=float(max(ll.std(), 2 * SD_FLOOR["length"])), correlation="soar", n_archives=len(fits))
    return out


def _pooled_shape(shapes) -> list:
    """The archives' mean log shape per band; bands no archive covers take the nearest covered band's value."""
    shapes = np.array([[np.nan if v is None else v for v in sh] for sh in shapes if sh is not None], np.float64)
    if shapes.size == 0:
        return [0.0] * (SHAPE_EDGES.size - 1)
    mean = np.array([np.nanmean(c) if np.isfinite(c).any() else np.nan for c in shapes.T])
    ok = np.flatnonzero(np.isfinite(mean))
    near = ok[np.abs(np.arange(mean.size)[:, None] - ok[None, :]).argmin(axis=1)]
    return [float(v) for v in mean[near]]


def main() -> int:
    warnings.simplefilter("ignore")
    fits = []
    for name, da, bg, truth in archives():
        fits.append(fit_archive(name, da, bg, truth))
        f = fits[-1]
        print(f"{name:40s} s_b {f['sigma_rms']:8.3g} {f['units']:6s} L {f['length_m'] / 1e3:6.0f} km {f['correlation']}")
    OUT.write_text(json.dumps(dict(how=__doc__.strip().splitlines()[0], script="scripts/fit_background_error_priors.py",
                                   priors=pooled(fits), fits=fits), indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
