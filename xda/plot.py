"""Quick-look plots of xda's results (matplotlib; imported only when a plot is drawn).

* :func:`increment` -- the analysis increment with the observation locations;
* :func:`spectra` -- power spectra of several fields on one log-log axis;
* :func:`residual` -- a map of a physics residual (diverging, centred on 0);
* :func:`spread_skill` -- binned ensemble spread against the error of the ensemble mean.

Each takes labeled fields, draws on ``ax`` (a new figure when omitted) and returns the
Axes. Longitude/latitude axes are plain plate carree; pass a cartopy GeoAxes as ``ax``
for projections (``transform`` is set when the Axes has a projection).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .labeled.grid import grid_of
from .spectra import isotropic_power_spectrum, power_spectrum


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))
    return ax


def _map(da: xr.DataArray, ax, cmap: str, symmetric: bool, label: str):
    g = grid_of(da)
    values = np.asarray(da.transpose(g.lat_dim, g.lon_dim).values, np.float64)
    kw = {}
    if hasattr(ax, "projection"):  # a cartopy GeoAxes
        import cartopy.crs as ccrs

        kw["transform"] = ccrs.PlateCarree()
    vmax = float(np.nanmax(np.abs(values))) if symmetric else None
    mesh = ax.pcolormesh(g.lon, g.lat, values, cmap=cmap, shading="auto", vmin=-vmax if symmetric else None, vmax=vmax, **kw)
    ax.figure.colorbar(mesh, ax=ax, label=f"{label} ({da.attrs.get('units', '')})")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    return ax


def increment(analysis: xr.DataArray, background: xr.DataArray, obs=None, *, ax=None):
    """Map of ``analysis - background`` (members averaged), with the observation locations.

    Parameters
    ----------
    analysis, background : DataArray (lat, lon)
    obs : DataArray on the grid (NaN = unobserved), or a table with ``lat``, ``lon``
        (e.g. the ``obs_space=True`` table; rejected reports drawn as crosses).
    """
    ax = _axes(ax)
    a = analysis.mean("member") if "member" in analysis.dims else analysis
    inc = (a - background).assign_attrs(units=background.attrs.get("units", ""))
    _map(inc, ax, "RdBu_r", True, f"increment of {analysis.name}")
    if obs is not None:
        if isinstance(obs, xr.DataArray):
            g = grid_of(obs)
            j, i = np.nonzero(np.isfinite(obs.transpose(g.lat_dim, g.lon_dim).values))
            ax.scatter(g.lon[i], g.lat[j], s=6, c="k", label="observations")
        else:
            ok = obs["qc"].values if "qc" in obs else np.ones(len(obs), bool)
            west = float(np.min(grid_of(analysis).lon))
            lon = (np.asarray(obs["lon"], np.float64) - west) % 360 + west  # the grid's longitude convention
            ax.scatter(lon[ok], obs["lat"][ok], s=6, c="k", label="assimilated")
            if (~ok).any():
                ax.scatter(lon[~ok], obs["lat"][~ok], s=20, c="m", marker="x", label="rejected")
        ax.legend(loc="lower left", fontsize="small")
    ax.set_title(f"analysis increment: {analysis.name}")
    return ax


def spectra(fields: dict, *, kind: str = "zonal", ax=None):
    """Power spectra of ``{label: DataArray}`` on one log-log axis.

    ``kind="zonal"``: :func:`xda.power_spectrum`, averaged over every other dimension
    (latitudes equally); ``"isotropic"``: :func:`xda.isotropic_power_spectrum`.
    """
    ax = _axes(ax)
    for label, da in fields.items():
        p = power_spectrum(da) if kind == "zonal" else isotropic_power_spectrum(da)
        dim = next(d for d in p.dims if str(d).startswith("freq_"))
        p = p.mean([d for d in p.dims if d != dim])
        x = p["wavenumber"] if kind == "zonal" else 1.0 / p["wavelength"]
        keep = np.asarray(x) > 0
        ax.loglog(np.asarray(x)[keep], p.values[keep], label=label)
    ax.set_xlabel("zonal wavenumber" if kind == "zonal" else "1 / wavelength (km-1)")
    ax.set_ylabel(f"power ({p.attrs.get('units', '')})")
    ax.legend(fontsize="small")
    return ax


def residual(field: xr.DataArray, *, ax=None):
    """Map of a physics residual (e.g. :func:`xda.advection_diffusion_residual`), centred on 0."""
    ax = _axes(ax)
    _map(field, ax, "PuOr_r", True, str(field.name or "residual"))
    ax.set_title(field.attrs.get("long_name", str(field.name)))
    return ax


def spread_skill(ensemble: xr.DataArray, truth: xr.DataArray, *, member_dim: str = "member", bins: int = 10, ax=None):
    """Reliability of the spread: the rms error of the ensemble mean against the ensemble spread,
    in ``bins`` quantile bins of the spread (on the 1:1 line for a reliable ensemble; the spread is
    ``sqrt((M+1)/M)`` times the members' std, Fortin et al. 2014)."""
    ax = _axes(ax)
    m = ensemble.sizes[member_dim]
    spread = (np.sqrt((m + 1) / m) * ensemble.std(member_dim, ddof=1)).values.ravel()
    err = (ensemble.mean(member_dim) - truth).values.ravel()
    ok = np.isfinite(spread) & np.isfinite(err)
    edges = np.quantile(spread[ok], np.linspace(0, 1, bins + 1))
    which = np.clip(np.digitize(spread[ok], edges[1:-1]), 0, bins - 1)
    s = np.array([np.sqrt(np.mean(spread[ok][which == b] ** 2)) for b in range(bins)])
    e = np.array([np.sqrt(np.mean(err[ok][which == b] ** 2)) for b in range(bins)])
    ax.plot(s, e, "o-", label=str(ensemble.name or "ensemble"))
    top = float(max(s.max(), e.max()))
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="reliable")
    units = ensemble.attrs.get("units", "")
    ax.set_xlabel(f"spread ({units})")
    ax.set_ylabel(f"rms error of the mean ({units})")
    ax.legend(fontsize="small")
    return ax
