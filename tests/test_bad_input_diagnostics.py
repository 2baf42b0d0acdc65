"""Bad input to the diagnostics, spectra and metrics (issue 13): one line per case.

Each case is the call, then what must happen: an error class and a fragment of its
message (the message names the variable, the value and the fix), a warning class and
fragment (legal but suspicious input), or a check of the right result. The inputs of
the right-result cases are checked to be unchanged after the call.
"""

from __future__ import annotations

import copy
import functools
import warnings

import cftime
import numpy as np
import pytest
import xarray as xr

import xda
from xda import metrics
from xda.errors import CoordinateError, GridError, ParameterError, XdaWarning
from xda.labeled import units as xu
from xda.labeled.ops import time_seconds
from xda.numerics import stencils

from test_bad_input import refused, warned

H6 = np.timedelta64(6, "h")
T0 = np.datetime64("1996-01-06T00", "ns")


def field(ny=9, nx=12, *, lat0=30.0, dlat=2.0, lon0=0.0, dlon=2.0, units="K", name="c", values=None, seed=0):
    """A (lat, lon) field with units: random around 280 unless ``values`` (broadcast)."""
    lat, lon = lat0 + dlat * np.arange(ny), lon0 + dlon * np.arange(nx)
    data = np.random.default_rng(seed).normal(280.0, 2.0, (ny, nx)) if values is None else np.broadcast_to(values, (ny, nx))
    return xr.DataArray(np.array(data, float), dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=name,
                        attrs={"units": units})


def zonal(ny=4, nx=36, **kw):
    """A field on latitude circles that wrap around the globe."""
    return field(ny, nx, dlon=360.0 / nx, **kw)


def with_coord(da, **coords):
    """``da`` with coordinate values replaced (non-monotonic, repeated, ...)."""
    return da.assign_coords({k: (k, np.asarray(v, float)) for k, v in coords.items()})


def with_nan(da, *points):
    out = da.copy(deep=True)
    for j, i in points:
        out[j, i] = np.nan
    return out


def series(times, attrs=None, ny=9, nx=12):
    """(c, u, v) evolving in time on a regional grid, with ``time`` coordinate ``times`` (``attrs`` for CF numbers)."""
    base = field(ny, nx)
    k = np.arange(len(times))[:, None, None]
    data = base.values[None] + 0.3 * k * np.sin(np.deg2rad(10 * base.lon.values)) + 0.1 * k**2 * np.cos(np.deg2rad(base.lat.values))[:, None]
    coords = {"time": ("time", np.asarray(times), attrs or {}), "lat": base.lat, "lon": base.lon}
    c = xr.DataArray(data, dims=("time", "lat", "lon"), coords=coords, name="c", attrs={"units": "K"})
    u = xr.DataArray(np.full(data.shape, 8.0), dims=c.dims, coords=c.coords, name="u", attrs={"units": "m/s"})
    return c, u, u.copy(data=np.full(data.shape, -3.0)).rename("v")


def dates(*hours):
    return T0 + np.array(hours, "timedelta64[h]")


def hours_cf(*hours):
    return series(np.array(hours, float), {"units": "hours since 1996-01-06 00:00"})


def ensemble(m, n=6):
    rng = np.random.default_rng(m)
    return xr.DataArray(rng.normal(size=(m, n)), dims=("member", "x"), attrs={"units": "K"}), \
        xr.DataArray(rng.normal(size=n), dims="x", attrs={"units": "K"})


def residual(c, u, v, kappa=1e5, **kw):
    return xda.advection_diffusion_residual(c, u, v, kappa, **kw)


def geo_inputs(lat0=30.0):
    return field(lat0=lat0, units="m", name="z"), field(lat0=lat0, units="m/s", name="u"), field(lat0=lat0, units="m/s", name="v")


@functools.lru_cache(maxsize=None)
def blizzard() -> xr.DataArray:
    """The bundled January 1996 blizzard's temperature: NaN corners outside the model domain, one time all NaN."""
    return xda.datasets.open_dataset("storm1996_t")["t"]


def projected(x):
    y = np.arange(5) * 5e4
    return xr.DataArray(np.zeros((5, len(x))), dims=("y", "x"), name="c", attrs={"units": "K"},
                        coords={"y": ("y", y, {"units": "m"}), "x": ("x", np.asarray(x, float), {"units": "m"})})


def const_spectrum():
    return xda.isotropic_power_spectrum(field(values=280.0))


CHECKERBOARD = np.where((np.arange(12)[:, None] + np.arange(12)) % 3 == 0, np.nan, 280.0)


@pytest.mark.parametrize("call, error, match", [
    # 1. spectra of fields with NaN; options
    pytest.param(lambda: xda.isotropic_power_spectrum(field(12, 12, values=CHECKERBOARD)), GridError, "no all-finite block of at least 8 x 8", id="iso-no-finite-block"),
    pytest.param(lambda: xda.isotropic_power_spectrum(field(values=np.nan)), GridError, "'c' has no finite value", id="iso-all-nan"),
    pytest.param(lambda: xda.isotropic_power_spectrum(field(), nbins=0), ParameterError, "nbins=0", id="iso-nbins-0"),
    pytest.param(lambda: xda.isotropic_power_spectrum(field(), detrend="quadratic"), ParameterError, "detrend='quadratic'", id="iso-detrend"),
    pytest.param(lambda: xda.power_spectrum(zonal(), dim="nonexistent"), CoordinateError, r"no dimension 'nonexistent'; its dims are \('lat', 'lon'\)", id="ps-missing-dim"),
    pytest.param(lambda: xda.power_spectrum(zonal(), dim="lat"), GridError, "along the longitude 'lon'", id="ps-not-lon"),
    pytest.param(lambda: xda.power_spectrum(zonal(), scaling="energy"), ParameterError, "scaling='energy'", id="ps-scaling"),
    pytest.param(lambda: xda.spectral_slope(zonal()), CoordinateError, "no frequency dimension", id="slope-no-freq"),
    pytest.param(lambda: xda.spectral_slope(xda.power_spectrum(zonal()), dim="freq_r"), CoordinateError, "no dimension 'freq_r'", id="slope-wrong-dim"),
    pytest.param(lambda: xda.spectral_slope(xda.power_spectrum(zonal()), band=(0.05, 0.01)), ParameterError, "kmin < kmax", id="slope-band-reversed"),
    pytest.param(lambda: xda.spectral_slope(xda.power_spectrum(zonal()), band=(0.0, 0.001)), ParameterError, "widen it", id="slope-band-narrow"),
    pytest.param(lambda: xda.spectral_divergence(zonal(), zonal(), kind="zonall"), ParameterError, "did you mean 'zonal'", id="sd-kind"),
    pytest.param(lambda: xda.spectral_divergence(zonal(), zonal(), top=0), ParameterError, "top=0", id="sd-top-0"),
    # 3. ssim
    pytest.param(lambda: metrics.ssim(field(), field(), data_range=0), ParameterError, "data_range=0", id="ssim-range-0"),
    pytest.param(lambda: metrics.ssim(field(), field(), data_range=np.nan), ParameterError, "data_range=nan", id="ssim-range-nan"),
    pytest.param(lambda: metrics.ssim(field(values=np.nan), field(values=np.nan)), ParameterError, "pass data_range=", id="ssim-all-nan"),
    pytest.param(lambda: metrics.ssim(field(), field(), sigma=0), ParameterError, "sigma=0", id="ssim-sigma-0"),
    # 4. ensembles
    pytest.param(lambda: metrics.spread_skill_ratio(*ensemble(1)), ParameterError, "at least 2 members along member_dim='member', got 1", id="ssr-one-member"),
    pytest.param(lambda: metrics.crps(*ensemble(1)), ParameterError, "at least 2 members .*metrics.mae", id="crps-one-member"),
    pytest.param(lambda: metrics.crps(field(), field()), CoordinateError, r"member dimension 'member'.*\('lat', 'lon'\)", id="crps-no-member-dim"),
    pytest.param(lambda: metrics.spread_skill_ratio(*ensemble(3), member_dim="ens"), CoordinateError, r"'ens'.*\('member', 'x'\)", id="ssr-wrong-member-dim"),
    pytest.param(lambda: metrics.crps(ensemble(3)[0], ensemble(3)[0]), CoordinateError, "both arguments", id="crps-both-members"),
    # 5. grids
    pytest.param(lambda: xda.gradient(with_coord(field(), lon=[0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 18, 22])), GridError, r"'lon' is not increasing .*sortby\('lon'\)", id="lon-unsorted"),
    pytest.param(lambda: xda.laplacian(with_coord(field(), lon=[165, 170, 175, -180, -175, -170, -165, -160, -155, -150, -145, -140])), GridError, r"assign_coords\(lon=", id="lon-dateline"),
    pytest.param(lambda: xda.gradient(with_coord(field(), lon=[0, 2, 4, 6, 8, 8, 10, 12, 14, 16, 18, 20])), GridError, r"repeats the value\(s\) \[8.0\].*drop_duplicates\('lon'\)", id="lon-repeat"),
    pytest.param(lambda: xda.gradient(with_coord(field(), lat=[30, 32, 34, 34, 36, 38, 40, 42, 44])), GridError, r"drop_duplicates\('lat'\)", id="lat-repeat"),
    pytest.param(lambda: xda.gradient(with_coord(field(), lat=[30, 32, 36, 34, 38, 40, 42, 44, 46])), GridError, r"'lat' is not monotonic; sort it with `.sortby\('lat'\)`", id="lat-unsorted"),
    pytest.param(lambda: xda.gradient(with_coord(field(), lat=[30, 32, 34, np.nan, 38, 40, 42, 44, 46])), GridError, "'lat' has 1 NaN", id="lat-nan"),
    pytest.param(lambda: xda.gradient(field().isel(lat=[0])), GridError, "latitude 'lat' has 1 point", id="grad-one-lat"),
    pytest.param(lambda: xda.laplacian(field().isel(lon=[3])), GridError, "longitude 'lon' has 1 point", id="lap-one-lon"),
    pytest.param(lambda: xda.laplacian(field().isel(lat=[0, 1])), GridError, "at least 3 points along 'lat'", id="lap-two-lats"),
    pytest.param(lambda: residual(*[a.isel(lon=[0, 1]) for a in series(dates(0, 6, 12))]), GridError, "at least 3 points along 'lon'", id="residual-two-lons"),
    pytest.param(lambda: xda.gradient(projected([2e5, 1.5e5, 1e5, 5e4])), GridError, "evenly increasing", id="projected-x-descending"),
    # 6. coarsen
    pytest.param(lambda: xda.coarsen(field(8, 12), 0), ParameterError, "factor=0 must be an integer >= 1", id="coarsen-0"),
    pytest.param(lambda: xda.coarsen(field(8, 12), -2), ParameterError, "factor=-2", id="coarsen-negative"),
    pytest.param(lambda: xda.coarsen(field(8, 12), 2.5), ParameterError, "factor=2.5 must be an integer", id="coarsen-fraction"),
    pytest.param(lambda: xda.coarsen(field(8, 12), 16), ParameterError, "factor=16 is larger than the 8 x 12 grid", id="coarsen-too-large"),
    pytest.param(lambda: xda.coarsen(field(8, 12), 3), GridError, "not a multiple of factor 3", id="coarsen-not-multiple"),
    # 7. times
    pytest.param(lambda: residual(*series(dates(0, 6, 6, 12))), GridError, r"repeats 1 time stamp\(s\) \(1996-01-06T06:00:00\).*drop_duplicates\('time'\)", id="time-repeat"),
    pytest.param(lambda: residual(*series(dates(0, 12, 6, 18))), GridError, r"not monotonic.*sortby\('time'\)", id="time-unsorted"),
    pytest.param(lambda: residual(*series(dates(0))), GridError, "at least 2 times along 'time', got 1", id="time-one"),
    pytest.param(lambda: xda.effective_diffusivity(*series(dates(6))), GridError, "at least 2 times", id="kappa-eff-one-time"),
    pytest.param(lambda: residual(*series(np.array(["a", "b", "c"]))), CoordinateError, "time 'time' holds values that are not times", id="time-text"),
    pytest.param(lambda: residual(*series(np.array([0.0, 6, 12]))), CoordinateError, "time 'time' is numeric without units", id="time-no-units"),
    pytest.param(lambda: residual(*series(np.array([0.0, 6, 12]), {"units": "K"})), CoordinateError, "'time' has units 'K', not a time", id="time-units-K"),
    pytest.param(lambda: residual(*series(np.array([0.0, 6, 12]), {"units": "hours since 1996-01-01", "calendar": "martian"})), CoordinateError, "cannot be decoded.*martian", id="time-calendar"),
    pytest.param(lambda: residual(*series(np.array([0.0, np.nan, 12]), {"units": "hours since 1996-01-01"})), CoordinateError, r"missing \(NaT\)", id="time-nat"),
    pytest.param(lambda: residual(*series(dates(0, 6)), time="t"), CoordinateError, "no dimension 't'", id="time-dim-missing"),
    # 8. parameters
    pytest.param(lambda: residual(*hours_cf(0, 6, 12), kappa=-1.0), ParameterError, r"kappa=-1.0 must be a finite number >= 0", id="kappa-negative"),
    pytest.param(lambda: residual(*hours_cf(0, 6, 12), kappa="-1e5 m2/s"), ParameterError, "kappa='-1e5 m2/s'", id="kappa-negative-text"),
    pytest.param(lambda: residual(*hours_cf(0, 6, 12), kappa=xu.registry().Quantity(-3.0, "km**2/s")), ParameterError, "kappa=.*-3.0", id="kappa-negative-pint"),
    pytest.param(lambda: residual(*hours_cf(0, 6, 12), kappa=np.nan), ParameterError, "kappa=nan must be a finite", id="kappa-nan"),
    pytest.param(lambda: xda.geostrophic_residual(*geo_inputs(), min_lat=-5), ParameterError, "min_lat=-5 must be .* >= 0.0 and < 90.0", id="min-lat-negative"),
    pytest.param(lambda: xda.geostrophic_residual(*geo_inputs(), min_lat=90), ParameterError, "min_lat=90", id="min-lat-90"),
    pytest.param(lambda: xda.geostrophic_residual(*geo_inputs(), min_lat=np.nan), ParameterError, "min_lat=nan", id="min-lat-nan"),
])
def test_refused(call, error, match):
    refused(call, error, match)


@pytest.mark.parametrize("call, match", [
    pytest.param(lambda: stencils.geometry(np.array([30.0, 32, 34]), np.array([0.0, 2, 6, 4]), False), "longitudes must increase", id="geometry-lon-unsorted"),
    pytest.param(lambda: stencils.geometry(np.array([30.0, 32, 32]), np.array([0.0, 2, 4]), False), "latitudes must be strictly monotonic", id="geometry-lat-repeat"),
    pytest.param(lambda: stencils.geometry(np.array([30.0]), np.array([0.0, 2, 4]), False), "at least 2 points", id="geometry-one-lat"),
    pytest.param(lambda: stencils.tendency_weights(np.array([0.0, 3600, 3600])), "strictly monotonic", id="tendency-repeat"),
    pytest.param(lambda: stencils.advection_diffusion_residual(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), -1.0, np.array([0.0, 1]), stencils.geometry(np.array([0.0, 1, 2]), np.array([0.0, 1, 2]), False)), "kappa", id="numerics-kappa-negative"),
])
def test_numerics_refuse_with_plain_value_error(call, match):
    """The numerics layer (plain arrays) raises plain ValueErrors; the labeled path raises XdaErrors first."""
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, warning, match", [
    pytest.param(lambda: xda.isotropic_power_spectrum(blizzard().isel(time=0)), XdaWarning, r"'t' has NaN/inf at 224 of 1188 grid points.*lon=slice\(7, 29\).*14 columns cropped", id="iso-blizzard-corners"),
    pytest.param(lambda: xda.isotropic_power_spectrum(blizzard()), XdaWarning, "1 of 64 fields of 't' are entirely NaN", id="iso-blizzard-missing-time"),
    pytest.param(lambda: xda.power_spectrum(with_nan(zonal(), (1, 3))), XdaWarning, "1 of 4 rows of 'c' along 'lon' hold NaN", id="ps-nan-row"),
    pytest.param(lambda: xda.spectral_slope(const_spectrum()), XdaWarning, "left out of the fit", id="slope-zero-power"),
    pytest.param(lambda: xda.effective_diffusivity(*[a.copy(data=np.full(a.shape, 280.0)) if a.name == "c" else a for a in series(dates(0, 6, 12))]), XdaWarning, "laplacian of 'c' is zero", id="kappa-eff-constant"),
])
def test_warned(call, warning, match):
    warned(call, warning, match)


# ----------------------------------------------------------------------------- right results


def _expected_const_ssim(x, y):
    c1 = (0.01 * abs(x - y)) ** 2
    return (2 * x * y + c1) / (x**2 + y**2 + c1)


def _power_law(zero_bin=None):
    k = np.arange(1, 40) / 360.0
    p = xr.DataArray(k**-3.0, dims="freq_lon", coords={"freq_lon": k}, name="p")
    return p if zero_bin is None else p.where(np.arange(k.size) != zero_bin, 0.0)


def _flip(da, dim="lat"):
    return da.isel({dim: slice(None, None, -1)})


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-10, atol=0, equal_nan=True)
    return True


C360 = np.array([cftime.Datetime360Day(1996, 2, 30, h) for h in (0, 6, 12, 18)])


@pytest.mark.parametrize("inputs, call, check", [
    pytest.param(lambda: (field(values=280.0),), lambda a: metrics.ssim(a, a), lambda r: float(r) == 1.0, id="ssim-identical-constant"),
    pytest.param(lambda: (field(),), lambda a: metrics.ssim(a, a), lambda r: float(r) == 1.0, id="ssim-identical"),
    pytest.param(lambda: (field(values=281.0), field(values=280.0)), metrics.ssim, lambda r: float(r) == pytest.approx(_expected_const_ssim(281.0, 280.0), rel=1e-12), id="ssim-two-constants"),
    pytest.param(lambda: (const_spectrum(),), xda.spectral_slope, lambda r: np.isnan(float(r)), id="slope-zero-power-nan"),
    pytest.param(lambda: (_power_law(zero_bin=5),), xda.spectral_slope, lambda r: float(r) == pytest.approx(-3.0, abs=1e-10), id="slope-skips-zero-bin"),
    pytest.param(lambda: (blizzard().isel(time=0),), xda.isotropic_power_spectrum, lambda r: bool(np.isfinite(r).all()) and r.attrs["xda_cropped_columns"] == 14 and r.attrs["xda_cropped_rows"] == 0, id="iso-blizzard-cropped-finite"),
    pytest.param(lambda: (blizzard().isel(time=0),), xda.isotropic_power_spectrum, lambda r: _close(r, xda.isotropic_power_spectrum(blizzard().isel(time=0, lon=slice(7, 29)))), id="iso-blizzard-equals-explicit-crop"),
    pytest.param(lambda: (with_nan(zonal(), (1, 3)),), xda.power_spectrum, lambda r: _close(r.isel(lat=[0, 2, 3]), xda.power_spectrum(zonal()).isel(lat=[0, 2, 3])) and bool(r.isel(lat=1).isnull().all()), id="ps-nan-row-only"),
    pytest.param(lambda: (with_nan(zonal(), (1, 3)),), lambda a: xda.power_spectrum(a, detrend="linear"), lambda r: _close(r.isel(lat=0), xda.power_spectrum(zonal(), detrend="linear").isel(lat=0)), id="ps-linear-nan-row-only"),
    pytest.param(lambda: hours_cf(0, 6, 12, 18), residual, lambda r: _close(r, residual(*series(dates(0, 6, 12, 18)))), id="cf-hours-equal-decoded"),
    pytest.param(lambda: series(np.array([0.0, 0.25, 0.5, 0.75]), {"units": "days"}), residual, lambda r: _close(r, residual(*series(dates(0, 6, 12, 18)))), id="duration-days-equal-decoded"),
    pytest.param(lambda: series(C360), residual, lambda r: _close(r, residual(*series(dates(0, 6, 12, 18)))), id="cftime-360-day"),
    pytest.param(lambda: series(C360), lambda c, u, v: time_seconds(c, "time"), lambda r: list(r) == [0.0, 21600.0, 43200.0, 64800.0], id="cftime-360-day-seconds"),
    pytest.param(lambda: series(np.array([cftime.Datetime360Day(1996, 2, 30, 18), cftime.Datetime360Day(1996, 3, 1, 0)])), lambda c, u, v: time_seconds(c, "time"), lambda r: list(r) == [0.0, 21600.0], id="cftime-360-day-feb-30"),
    pytest.param(lambda: tuple(_flip(a, "time") for a in series(dates(0, 6, 12, 18))), residual, lambda r: _close(r, _flip(residual(*series(dates(0, 6, 12, 18))), "time")), id="time-descending"),
    pytest.param(lambda: hours_cf(0, 6, 12), lambda c, u, v: residual(c, u, v, kappa=0), lambda r: _close(r, residual(*hours_cf(0, 6, 12), kappa="0 m2/s")), id="kappa-zero"),
    pytest.param(lambda: (_flip(field()),), xda.laplacian, lambda r: _close(_flip(r), xda.laplacian(field())), id="lat-descending-laplacian"),
    pytest.param(lambda: (_flip(field()),), xda.gradient, lambda r: all(_close(_flip(a), b) for a, b in zip(r, xda.gradient(field()))), id="lat-descending-gradient"),
    pytest.param(lambda: (field(8, 12),), lambda a: xda.coarsen(a, 1), lambda r: r.identical(field(8, 12)), id="coarsen-1-identity"),
    pytest.param(lambda: geo_inputs(lat0=-8.0), lambda z, u, v: xda.geostrophic_residual(z, u, v, min_lat=0), lambda r: bool(r["u_ageostrophic"].sel(lat=0.0).isnull().all()) and bool(np.isfinite(r["u_ageostrophic"].drop_sel(lat=0.0)).all()), id="min-lat-0-equator-nan"),
    pytest.param(lambda: ensemble(2), metrics.crps, lambda r: bool(np.isfinite(r)), id="crps-two-members"),
])
def test_right_result_and_inputs_unchanged(inputs, call, check):
    args = inputs()
    before = copy.deepcopy(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XdaWarning)
        result = call(*args)
    assert check(result), result
    for a, b in zip(args, before):
        xr.testing.assert_identical(a, b)
