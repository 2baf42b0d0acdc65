"""Real sample data shipped with xda, opened with the repairs real files need.

>>> ds = xda.datasets.open_dataset("ncep_z500_global")   # doctest: +SKIP

Every repair is listed in ``ds.attrs["xda_repairs"]``; provenance and licence in
``ds.attrs["xda_source"]`` and ``xda/data/SOURCES.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import NotFoundError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

_FILES = {
    "ncep_z500_global": "ncep_z500_global.nc",
    "sao_stations": "sao_stations_19950318.nc",
    "esm_tas": "esm_tas_monthly_t63.nc",
    "esm_uas": "esm_uas_monthly_t63.nc",
    "esm_vas": "esm_vas_monthly_t63.nc",
    "etopo20": "etopo20.nc",
    **{f"storm1996_{v}": f"storm1996_{v}.nc" for v in ("t", "p", "u", "v", "u500", "v500")},
}

_SOURCE = {
    "ncep_z500_global": "NCEP/NCAR reanalysis via Debian libncarg-data (ncarg/data/cdf/hgt.nc), UCAR BSD-4-clause",
    "sao_stations": "SAO/METAR station reports 1995-03-18 via Debian libncarg-data (950318_sao.cdf), UCAR BSD-4-clause",
    "esm_tas": "MPI-ESM-LR CMIP5 historical 2005 via Debian libncarg-data, UCAR BSD-4-clause",
    "esm_uas": "MPI-ESM-LR CMIP5 historical 2005 via Debian libncarg-data, UCAR BSD-4-clause",
    "esm_vas": "MPI-ESM-LR CMIP5 historical 2005 via Debian libncarg-data, UCAR BSD-4-clause",
    "etopo20": "NOAA ETOPO 20-arc-minute relief via Debian ferret-datasets (public domain)",
}

#: Storm files: variable -> (units, standard_name, long_name); the files carry none.
_STORM = {
    "t": ("K", "air_temperature", "surface air temperature"),
    "p": ("Pa", "air_pressure_at_mean_sea_level", "sea-level pressure"),
    "u": ("m s-1", "eastward_wind", "10 m eastward wind"),
    "v": ("m s-1", "northward_wind", "10 m northward wind"),
    "u500": ("m s-1", "eastward_wind", "500 hPa eastward wind"),
    "v500": ("m s-1", "northward_wind", "500 hPa northward wind"),
}

_LATLON = {
    "lat": {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "lon": {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
}


def available() -> list[str]:
    """Names accepted by :func:`open_dataset`."""
    return sorted(_FILES)


def path(name: str) -> Path:
    """Path of a bundled file."""
    if name not in _FILES:
        raise NotFoundError(f"no bundled dataset {name!r}; available: {available()}")
    return DATA_DIR / _FILES[name]


def _ncep_z500(ds):
    repairs = []
    months = ds["time"].values.astype(int)
    ds = ds.assign_coords(time=pd.DatetimeIndex([pd.Timestamp(1958, 1, 1) + pd.DateOffset(months=int(m)) for m in months]))
    repairs.append("time 'months since 1958-1-1' decoded to dates")
    ds = ds.rename({"HGT": "z500"})
    ds["z500"].attrs.update(units="m", standard_name="geopotential_height", long_name="500 hPa geopotential height")
    repairs.append("HGT renamed z500; units 'gpm' -> 'm'; standard_name geopotential_height added")
    for c, a in _LATLON.items():
        ds[c].attrs.update(a)
    return ds, repairs


def _sao(ds):
    """Flatten the (report, hour) table to one dimension ``obs`` of valid positions."""
    repairs = []
    times = pd.to_datetime(
        pd.Series(ds["time"].values.ravel()).str.decode("ascii").str.replace(" UTC", "", regex=False),
        format="%Y %m %d %H:%M", errors="coerce",
    )
    ids = pd.Series(ds["id"].values.ravel()).str.decode("ascii").str.strip()
    hour = np.broadcast_to(np.arange(ds.sizes["hour"])[None], (ds.sizes["report"], ds.sizes["hour"])).ravel()
    lat = ds["lat"].values.ravel().astype(np.float64)
    lon = ds["lon"].values.ravel().astype(np.float64)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 360))
    n_impossible = int(bad.sum() - np.isnan(ds["lat"].values).sum())
    lat[bad], lon[bad] = np.nan, np.nan
    # reports without a position: take the station's position from its other reports
    known = pd.DataFrame({"id": ids[~bad], "lat": lat[~bad], "lon": lon[~bad]}).groupby("id").median()
    # US ICAO identifiers are 'K' + the 3-letter identifier the positioned reports use
    key = ids.where(ids.isin(known.index), ids.str.replace(r"^K(?=[A-Z0-9]{3}$)", "", regex=True))
    fill = bad & key.isin(known.index).to_numpy() & (ids != "").to_numpy()
    lat[fill] = known.loc[key[fill], "lat"].to_numpy()
    lon[fill] = known.loc[key[fill], "lon"].to_numpy()
    values = ds["T"].values.ravel()
    keep = np.isfinite(lat) & np.isfinite(lon)
    repairs.append(
        f"{n_impossible} impossible positions (e.g. lon -790) set to NaN; {int(fill.sum())} reports without a position "
        f"placed at their station's position from its other reports (ICAO 'KXYZ' = 'XYZ'); {int((~keep & np.isfinite(values)).sum())} "
        "temperature reports still without a position dropped"
    )
    data = {}
    for v, (u, sn, ln) in {"T": ("degC", "air_temperature", "air temperature"),
                           "TD": ("degC", "dew_point_temperature", "dew point"),
                           "PSL": ("hPa", "air_pressure_at_mean_sea_level", "sea-level pressure"),
                           "SPD": ("m s-1", "wind_speed", "wind speed"),
                           "DIR": ("degree", "wind_from_direction", "wind direction")}.items():
        data[v] = ("obs", ds[v].values.ravel()[keep], {"units": u, "standard_name": sn, "long_name": ln})
    repairs.append("units 'celsius' -> 'degC', 'hectopascals' -> 'hPa'; CF standard names added; gross errors (e.g. 406 degC) kept for QC")
    out = xr.Dataset(
        data,
        coords={
            "lat": ("obs", lat[keep], _LATLON["lat"]),
            "lon": ("obs", lon[keep], _LATLON["lon"]),
            "elevation": ("obs", ds["elev"].values.ravel()[keep].astype(np.float64), {"units": "m", "standard_name": "surface_altitude"}),
            "station": ("obs", ids[keep].to_numpy().astype(str)),
            "time": ("obs", times[keep].to_numpy()),
            "hour": ("obs", hour[keep], {"long_name": "nominal hour of the report (UTC)"}),
        },
    )
    repairs.append("(report, hour) table flattened to dimension 'obs'; text times decoded")
    return out, repairs


def _storm(ds, var):
    repairs = []
    ref = pd.Timestamp(ds["reftime"].values.item().decode().strip().replace(" ", "-", 2))
    ds = ds.drop_vars("reftime")
    ds = ds.assign_coords(time=("timestep", (ref + pd.to_timedelta(ds["timestep"].values, unit="h")).to_numpy()))
    ds = ds.swap_dims({"timestep": "time"}).drop_vars("timestep")
    repairs.append("time built from 'timestep' hours after 'reftime'")
    (field,) = ds.data_vars
    if field != var:
        ds = ds.rename({field: var})
        repairs.append(f"variable {field!r} renamed {var!r}")
    u, sn, ln = _STORM[var]
    ds[var].attrs.update(units=u, standard_name=sn, long_name=ln)
    repairs.append(f"units {u!r} and standard_name {sn!r} added (the file has none)")
    for c, a in _LATLON.items():
        ds[c].attrs.update(a)
    return ds, repairs


def _etopo(ds):
    repairs = []
    ds = ds.rename({"ETOPO20Y": "lat", "ETOPO20X1_1081": "lon", "ROSE": "elevation"})
    ds = ds.isel(lon=slice(0, -1))
    repairs.append("dims ETOPO20Y/ETOPO20X1_1081 renamed lat/lon; the repeated 1081st longitude (380.17 = 20.17) dropped")
    ds = ds.assign_coords(lon=np.mod(ds["lon"], 360.0)).sortby("lon")
    repairs.append("longitudes 20.17..379.83 wrapped to 0..360 and sorted")
    ds["elevation"].attrs.update(units="m", standard_name="height_above_mean_sea_level",
                                 long_name="surface relief (land height, ocean depth negative)")
    repairs.append("units 'METERS' -> 'm'; standard_name added")
    for c, a in _LATLON.items():
        ds[c].attrs.update(a)
    return ds, repairs


def open_dataset(name: str) -> xr.Dataset:
    """Open a bundled real dataset, repaired for CF conventions.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"ncep_z500_global"``, ``"sao_stations"``,
        ``"esm_tas"`` (``"esm_uas"``, ``"esm_vas"``), ``"etopo20"``, ``"storm1996_t"``
        (``_p``, ``_u``, ``_v``, ``_u500``, ``_v500``).

    Returns
    -------
    xarray.Dataset
        Loaded into memory; ``attrs["xda_repairs"]`` lists what was changed.

    Raises
    ------
    KeyError
        For an unknown name.
    """
    p = path(name)
    with xr.open_dataset(p, decode_times=False) as raw:
        raw = raw.load()
    if name == "ncep_z500_global":
        ds, repairs = _ncep_z500(raw)
    elif name == "sao_stations":
        ds, repairs = _sao(raw)
    elif name.startswith("storm1996_"):
        ds, repairs = _storm(raw, name.split("_", 1)[1])
    elif name == "etopo20":
        ds, repairs = _etopo(raw)
    else:
        ds = xr.decode_cf(raw)
        repairs = []
    ds.attrs["xda_source"] = _SOURCE.get(name, "UCAR libncarg-data, BSD-4-clause") + "; see xda/data/SOURCES.md"
    ds.attrs["xda_repairs"] = "; ".join(repairs) if repairs else "none"
    ds.encoding.pop("unlimited_dims", None)  # the file's record dimension: writing a selection of it would warn
    return ds
