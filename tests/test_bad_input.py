"""Bad input, faults and misuse (issue 13): one line per case.

Each case is the call, then what must happen: an error class and a fragment of its
message (the message names the variable, the value and the fix), a warning class and
fragment (legal but suspicious input), or a check of the right result. Every input
is checked to be unchanged after the call (``no_mutation``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xda
from xda.errors import (CoordinateError, DataError, GridError, ModelError, NotFoundError, ObservationError, ParameterError,
                        PlausibilityWarning, ResourceError, UnitsError, WeightsError, XdaError, XdaWarning)


def refused(call, error, match):
    """Assert ``call()`` raises ``error`` (an XdaError) whose message matches ``match``."""
    assert issubclass(error, XdaError) or error in (TypeError,), error
    with pytest.raises(error, match=match):
        call()


def warned(call, warning, match):
    """Assert ``call()`` succeeds with a ``warning`` matching ``match``; returns its result."""
    with pytest.warns(warning, match=match):
        return call()


# ----------------------------------------------------------------------------- cases on the bundled real data
#
# Data are built lazily (functools.cache) so that collecting the cases loads nothing.

import functools  # noqa: E402

from xda import BackgroundError  # noqa: E402
from xda.models import cards, registry  # noqa: E402

BE = BackgroundError.constant(50.0, 6e5)  # m, for z500


@functools.cache
def _z500():
    """(background, gridded observations, truth): NCEP z500, a month and the mean of the others, 3 % observed."""
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    truth = z.isel(time=0, drop=True)
    bg = z.isel(time=slice(1, None)).mean("time").assign_attrs(truth.attrs)
    obs = truth.where(np.random.default_rng(1).random(truth.shape) < 0.03).rename("z500")
    return bg.to_dataset(name="z500"), obs, truth


def bg():
    return _z500()[0]


def obs():
    return _z500()[1]


def oi(background=None, observations=None, **kw):
    """OI of the z500 case (a fixed B unless given)."""
    kw.setdefault("background_error", BE)
    return xda.assimilate(bg() if background is None else background, obs() if observations is None else observations,
                          method="oi", **kw)


def points(lat, lon, value, units="K", name="tas", **extra):
    """A point-observation Dataset along ``obs``."""
    data = {name: ("obs", np.asarray(value, float), {"units": units})}
    data.update({k: ("obs", np.asarray(v)) for k, v in extra.items()})
    return xr.Dataset(data, coords={"lat": ("obs", np.asarray(lat, float)), "lon": ("obs", np.asarray(lon, float))})


@functools.cache
def _tas():
    """MPI-ESM March 2005 tas over North America (K), and the same as a coarse field for downscaling (Asia)."""
    t = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=2, drop=True)
    asia = t.sel(lat=slice(20, 60), lon=slice(70, 140)).isel(lat=slice(0, 16), lon=slice(0, 32))
    return t.sel(lat=slice(20, 60), lon=slice(230, 300)), xda.coarsen(asia, 4)


def tas_bg():
    return _tas()[0].to_dataset(name="tas")


def coarse():
    return _tas()[1]


def stations(n=40, seed=0, **kw):
    """``n`` reports of the tas background plus 1 K noise at random points of its domain."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(25, 55, n), rng.uniform(235, 295, n)
    t = _tas()[0]
    value = t.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values + rng.normal(0, 1, n)
    return points(lat, lon, value, **kw)


def repeat_first(ds, k):
    """``ds`` with its first report repeated ``k`` more times."""
    return xr.concat([ds.isel(obs=[0] * k), ds], "obs")


REFUSED = [
    # parameters of assimilate
    pytest.param(lambda: xda.assimilate(bg(), obs(), steps=0), ParameterError, r"steps=0 must be an integer >= 1", id="steps-0"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), steps=2.5), ParameterError, r"steps=2.5", id="steps-float"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), members=0), ParameterError, r"members=0", id="members-0"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), members=10000), ParameterError, r"members=10000.*other seeds", id="members-10000"),
    pytest.param(lambda: oi(members=2), ParameterError, r"members=1 with method='oi'", id="oi-members"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), method="enkf"), ParameterError, r"method='enkf' is not one of", id="method-typo"),
    pytest.param(lambda: oi(qc=0), ParameterError, r"qc=0 .*qc=None switches", id="qc-0"),
    pytest.param(lambda: oi(qc=float("nan")), ParameterError, r"qc=nan", id="qc-nan"),
    pytest.param(lambda: oi(qc=-1), ParameterError, r"qc=-1", id="qc-negative"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), seed=-1), ParameterError, r"seed=-1", id="seed-negative"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), seed=1.5), ParameterError, r"seed=1.5", id="seed-float"),
    pytest.param(lambda: oi(background_error="innovation"), ParameterError, r"did you mean 'innovations'", id="background-error-typo"),
    pytest.param(lambda: oi(background_error={"z500": "tune"}), ParameterError, r"'z500'.*did you mean 'tuned'", id="background-error-dict-typo"),
    pytest.param(lambda: oi(background_error=5), ParameterError, r"background_error .*=5 is not one of", id="background-error-number"),
    pytest.param(lambda: BackgroundError.constant(0, 5e5), ParameterError, r"sigma=0 must be .*> 0", id="B-sigma-0"),
    pytest.param(lambda: BackgroundError.constant(float("nan"), 5e5), ParameterError, r"sigma=nan", id="B-sigma-nan"),
    pytest.param(lambda: BackgroundError.constant(1.0, 0.0), ParameterError, r"length_scale=0.0 .*metres", id="B-length-0"),
    pytest.param(lambda: BackgroundError.constant(1.0, -5e5), ParameterError, r"length_scale=-500000.0", id="B-length-negative"),
    pytest.param(lambda: BackgroundError.constant(1.0, 5e5, "gauss"), ParameterError, r"did you mean 'gaussian'", id="B-correlation-typo"),
    pytest.param(lambda: BackgroundError(np.zeros(2), np.ones(3), 5e5), ParameterError, r"one latitude per standard deviation", id="B-shapes"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), model="hs-t42-mv-latent-v1", latent_optimization={"lr": float("nan")}),
                 ParameterError, r"latent_optimization\['lr'\]=nan", id="lo-lr-nan"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), model="hs-t42-mv-latent-v1", latent_optimization={"lo_steps": 0}),
                 ParameterError, r"0 would ignore the observations", id="lo-steps-0"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), model="hs-t42-mv-latent-v1", latent_optimization={"guidance": -1}),
                 ParameterError, r"unknown keys \['guidance'\]", id="lo-unknown-key"),
    # models and their kinds
    pytest.param(lambda: xda.assimilate(bg(), obs(), model="hs-t63-ds-v1"), ModelError, r"is a downscaling model; assimilate needs", id="assimilate-downscaling-model"),
    pytest.param(lambda: oi(model="hs-t63-ds-v1"), ModelError, r"is a downscaling model", id="oi-downscaling-model"),
    pytest.param(lambda: oi(model="hs-t42-v3"), ModelError, r"no model named 'hs-t42-v3'", id="oi-unknown-model"),
    pytest.param(lambda: xda.downscale(coarse(), 4, model="hs-t42-v2"), ModelError, r"is an assimilation model; downscale needs", id="downscale-assimilation-model"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), device="cuda"), ModelError, r"no CUDA GPU.*device='cpu'", id="absent-gpu",
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")),
    # ensembles and the member dimension
    pytest.param(lambda: oi(bg().expand_dims(member=3)), GridError, r"'member' dimension \(size 3\).*from_ensemble", id="background-members"),
    pytest.param(lambda: xda.assimilate(bg().expand_dims(member=1), obs(), members=2), GridError, r"squeeze\('member'", id="background-member-1"),
    pytest.param(lambda: xda.downscale(coarse().expand_dims(member=2), 4, members=2, steps=2), GridError, r"already has a 'member' dimension", id="downscale-member-dim"),
    # data quirks
    pytest.param(lambda: oi(observations=obs() + 1e4), ObservationError, r"rejected all .* of 'z500'.*qc=None", id="qc-rejects-all"),
    pytest.param(lambda: oi(bg().where(bg().lat < 80)), DataError, r"background 'z500' has .* NaN", id="background-nan"),
    pytest.param(lambda: oi(observations=points([10.0], [20.0], [5000.0], units="m", name="z500", z500_error=[0.0])), ObservationError, r"positive and finite", id="obs-error-0"),
    pytest.param(lambda: oi(observations=obs().drop_attrs()), UnitsError, r"no units", id="obs-no-units"),
    pytest.param(lambda: oi(bg().assign(z500=bg()["z500"].drop_attrs())), UnitsError, r"'z500' has no units", id="background-no-units"),
    pytest.param(lambda: oi(observations=obs().assign_attrs(units="K")), UnitsError, r"cannot be converted", id="obs-wrong-dimension"),
    pytest.param(lambda: oi(observations=obs().rename("other").assign_attrs(standard_name="air_temperature")), ObservationError, r"match the background", id="obs-unknown-variable"),
    pytest.param(lambda: oi(observations=obs().isel(lat=slice(0, 40))), GridError, r"grid", id="gridded-obs-other-grid"),
    pytest.param(lambda: oi(observations=[1, 2, 3]), ObservationError, r"not list", id="obs-a-list"),
    pytest.param(lambda: oi(bg().isel(lon=[1, 0, *range(2, 144)])), GridError, r"sortby", id="background-lon-unsorted"),
    pytest.param(lambda: xda.downscale(coarse(), 0), ParameterError, r"factor=0", id="downscale-factor-0"),
    pytest.param(lambda: xda.downscale(coarse(), 4, steps=0), ParameterError, r"steps=0", id="downscale-steps-0"),
    pytest.param(lambda: xda.downscale(coarse(), 4, members=10000), ParameterError, r"members=10000", id="downscale-members-10000"),
    pytest.param(lambda: xda.downscale(coarse(), 4, seed=-2), ParameterError, r"seed=-2", id="downscale-seed-negative"),
    pytest.param(lambda: xda.downscale(coarse(), 4, method="nearest"), ParameterError, r"method='nearest'", id="downscale-method-typo"),
    pytest.param(lambda: xda.downscale(coarse().where(coarse().lat < 45), 4, method="bicubic"), DataError, r"NaN", id="downscale-nan"),
    pytest.param(lambda: xda.downscale(coarse().rename("x").drop_attrs().assign_attrs(units="K").to_dataset(), 4, method="bicubic"), NotFoundError, r"air_temperature", id="downscale-no-temperature"),
    pytest.param(lambda: xda.coarsen(coarse(), 0), ParameterError, r"factor=0", id="coarsen-0"),
    pytest.param(lambda: xda.coarsen(coarse(), 3), GridError, r"not a multiple of factor 3", id="coarsen-not-multiple"),
    pytest.param(lambda: xda.datasets.open_dataset("ncep_z500"), NotFoundError, r"no bundled dataset 'ncep_z500'", id="dataset-typo"),
    pytest.param(lambda: xda.train("x.nc", "/tmp/none", task="downscale"), ParameterError, r"did you mean 'downscaling'", id="train-task-typo"),
    pytest.param(lambda: xda.assimilate(tas_bg(), stations(), method="oi", obs_error={"t2m": 1.0}), ObservationError,
                 r"obs_error names \['t2m'\], which are not background variables", id="obs-error-unknown-variable"),
    pytest.param(lambda: xda.assimilate(tas_bg(), _table(tas=["x"] + [280.0] * 39), method="oi"), ObservationError,
                 r"column 'tas' .* not numbers \(e.g. 'x'\)", id="table-text-values"),
    pytest.param(lambda: xda.assimilate(tas_bg(), _table(lat=["n/a"] + [40.0] * 39), method="oi"), ObservationError,
                 r"column 'lat' .* not numbers", id="table-text-latitude"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), device="tpu"), ModelError, r"device='tpu' is not a torch device", id="device-bogus"),
    # metrics and statistics on mismatched inputs
    pytest.param(lambda: xda.metrics.rmse(_z500()[2], _z500()[2].isel(lat=slice(0, 10))), GridError, r"different coordinates.*interp_like", id="rmse-other-grid"),
    pytest.param(lambda: xda.metrics.rmse(_z500()[2], _z500()[2], dim="time"), CoordinateError, r"dim='time'.*not among", id="rmse-unknown-dim"),
    pytest.param(lambda: xda.metrics.ssim(_z500()[2], _z500()[2].isel(lon=slice(0, 50))), GridError, r"different coordinates", id="ssim-other-grid"),
    pytest.param(lambda: BackgroundError.from_pairs(*(xda.datasets.open_dataset("ncep_z500_global")["z500"].isel(time=[i]) for i in (0, 1))),
                 GridError, r"backgrounds and truths must have the same coordinates", id="from-pairs-other-times"),
    pytest.param(lambda: BackgroundError.from_ensemble(xda.datasets.open_dataset("ncep_z500_global")["z500"]), CoordinateError,
                 r"no member dimension 'member'", id="from-ensemble-no-member"),
    pytest.param(lambda: xda.assimilate(bg(), obs(), seed=2**70), ParameterError, r"seed=", id="seed-huge"),
    pytest.param(lambda: xda.load_model(""), ModelError, r"pass a model name", id="load-model-empty-name"),
    pytest.param(lambda: oi(variables=["z500"]), ParameterError, r"variables=\['z500'\] must be a dict", id="variables-a-list"),
    pytest.param(lambda: oi(variables={"hgt": "z500"}), ParameterError, r"variables names \['hgt'\]", id="variables-unknown-key"),
    pytest.param(lambda: oi(background_error={"hgt": BE}), ParameterError, r"background_error names \['hgt'\]", id="background-error-unknown-key"),
    pytest.param(lambda: oi(verify="no"), ParameterError, r"verify='no' must be True or False", id="verify-a-string"),
    pytest.param(lambda: xda.metrics.mae(_z500()[2], _z500()[2].drop_attrs()), UnitsError, r"only one of .* says its units", id="metrics-units-one-side"),
    pytest.param(lambda: xda.metrics.rmse(_z500()[2], _z500()[2], weights="lat"), ParameterError, r"weights='lat'", id="metrics-weights-typo"),
    pytest.param(lambda: xda.metrics.rmse(_z500()[2].values, _z500()[2]), ParameterError, r"labeled DataArrays", id="metrics-numpy"),
    pytest.param(lambda: xda.power_spectrum(_z500()[2].to_dataset()), ParameterError, r"is a Dataset", id="spectrum-of-a-dataset"),
    pytest.param(lambda: xda.spectral_divergence(_z500()[2], _z500()[2].isel(lat=slice(0, 20))), GridError, r"different coordinates", id="spectral-divergence-other-grid"),
    # environment: weights, memory
    pytest.param(lambda: _with_env("XDA_WEIGHTS_DIR", "/nonexistent/xda", lambda: registry.load_model("hs-t42-v2")), WeightsError,
                 r"XDA_WEIGHTS_DIR=./nonexistent/xda. does not exist; create it.*or unset", id="weights-dir-missing"),
    pytest.param(lambda: _with_env("XDA_WEIGHTS_DIR", "/nonexistent/xda", lambda: oi()), WeightsError, r"XDA_WEIGHTS_DIR", id="weights-dir-missing-oi"),
    pytest.param(lambda: _with_env("XDA_MEMORY_LIMIT", "1e6", lambda: oi()), ResourceError, r"dense OI solve of \d+ observations", id="memory-dense-oi"),
    pytest.param(lambda: _with_env("XDA_MEMORY_LIMIT", "1e8", lambda: xda.assimilate(bg(), obs(), members=1000)), ResourceError,
                 r"1000 members.*fewer members", id="memory-members"),
    pytest.param(lambda: oi(bg().rename(lat="y", lon="x").drop_vars(["y", "x"])), CoordinateError, r"latitude", id="background-no-coordinates"),
    pytest.param(lambda: xda.isotropic_power_spectrum(bg()["z500"].isel(lat=slice(30, 32))), GridError,
                 r"2 x 144 points; an isotropic spectrum needs at least 4 x 4", id="isotropic-spectrum-2-rows"),
    pytest.param(lambda: xda.metrics.crps(bg()["z500"].expand_dims(member=3), bg()["z500"], dim="member"), ParameterError,
                 r"crps\(dim='member'\): 'member' is the ensemble's member dimension", id="crps-over-members"),
    # positions and windows that would be silently wrong
    pytest.param(lambda: xda.assimilate(tas_bg(), _swapped(_table()), method="oi"),
                 ObservationError, r"25 observations of 'tas' have impossible positions \(latitude and longitude swapped\?\)",
                 id="lat-lon-swapped"),
    pytest.param(lambda: xda.assimilate(tas_bg(), _table(lon=lambda d: d["lon"].where(d.index > 0, -790.0)), method="oi"),
                 ObservationError, r"1 observations of 'tas' have impossible positions, e.g. lat .*, lon -790", id="lon-minus-790"),
    pytest.param(lambda: xda.assimilate(tas_bg(), stations(), method="oi", window=6), ObservationError,
                 r"window=6 has no unit.*'6h'", id="window-bare-number"),
    pytest.param(lambda: xda.downscale(coarse(), 10**6, method="bicubic"), ResourceError, r"factor=1000000", id="downscale-huge-factor"),
    pytest.param(lambda: xda.downscale(xr.concat([_global_coarse(), _global_coarse().isel(lon=[0]).assign_coords(
        lon=[float(_global_coarse().lon[0]) + 360])], "lon"), 2, method="bicubic"), GridError, r"cyclic point.*isel", id="downscale-cyclic-point"),
    pytest.param(lambda: xda.downscale(coarse(), 4, method="lapse_rate", orography=xda.static.orography_like(
        xda.downscale(coarse(), 4, method="bicubic")).where(lambda h: h > 500)), DataError, r"missing \(NaN\).*fillna\(0\)",
        id="downscale-orography-nan"),
    pytest.param(lambda: BackgroundError.from_ensemble(_z500()[2].expand_dims(member=3).copy()), DataError, r"identical \(zero spread",
                 id="B-from-identical-members"),
    pytest.param(lambda: xda.assimilate(tas_bg(), pd.concat([_table(), _table()[["tas"]]], axis=1), method="oi"), ObservationError,
                 r"more than one column named \['tas'\]", id="table-duplicate-columns"),
    pytest.param(lambda: xda.assimilate(tas_bg().assign(tas=lambda d: (d.tas + 0j).assign_attrs(d.tas.attrs)), stations(),
                                        method="oi"), DataError, r"'tas' holds complex.* values.*real", id="complex-background"),
    pytest.param(lambda: oi(bg().isel(lat=5)), CoordinateError, r"latitude of .* is a scalar.*isel\(lat=slice", id="scalar-latitude"),
    pytest.param(lambda: oi(obs_error={"z500": xr.full_like(obs(), 10.0).isel(lat=slice(0, 10)).assign_attrs(units="m")}),
                 ObservationError, r"errors of 'z500' .* are not on the observations' grid .*interp_like", id="obs-error-field-other-grid"),
]


def _in_360_day():
    """The tas case on 30 February 12 UTC of a 360-day calendar, reports from 10 to 14 UTC."""
    import cftime

    day = lambda h: cftime.Datetime360Day(2005, 2, 30, h)  # noqa: E731
    return (tas_bg().assign_coords(time=day(12)),
            stations().assign_coords(time=("obs", [day(12 + i % 5 - 2) for i in range(40)])))


def _360_day_with_real_reports():
    """The tas case on 1995-03-18 12 UTC of a 360-day model, real-calendar reports from 10 to 14 UTC."""
    import cftime

    when = [np.datetime64("1995-03-18T12:00") + np.timedelta64(60 * (i % 5 - 2), "m") for i in range(40)]
    return (tas_bg().assign_coords(time=cftime.Datetime360Day(1995, 3, 18, 12)),
            stations().assign_coords(time=("obs", np.array(when, "datetime64[ns]"))))


def _global_coarse():
    """MPI-ESM January tas block-averaged 4 x 4 (7.5 deg, global)."""
    return xda.coarsen(xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0), 4)


def _one_degree():
    """A global 1-degree target grid with rows at the poles."""
    return xr.Dataset(coords={"lat": np.linspace(-90, 90, 181), "lon": np.arange(0, 360, 1.0)})


def _humidity():
    """A specific-humidity background (8 g/kg) on the tas grid: a variable with no bundled archive."""
    t = _tas()[0]
    return (t * 0 + 8.0).rename("q").assign_attrs(units="g kg-1", standard_name="specific_humidity")


def _tas_and_winds():
    """(MPI-ESM March tas, uas, vas over North America, 3 % of each observed + 0.5)."""
    ds = xr.merge([xda.datasets.open_dataset(f"esm_{v}")[[v]] for v in ("tas", "uas", "vas")]).isel(time=2, drop=True)
    ds = ds.drop_vars(["lat_bnds", "lon_bnds", "time_bnds"], errors="ignore").sel(lat=slice(20, 60), lon=slice(230, 300))
    return ds, ds.where(np.random.default_rng(0).random(ds["tas"].shape) < 0.03) + 0.5


def _swapped(df):
    """``df`` with its latitude and longitude columns exchanged (longitudes -180..180)."""
    return df.assign(lat=((df["lon"] + 180) % 360) - 180, lon=df["lat"])


def _table(**columns):
    """The stations as a wide table (units in attrs), with ``columns`` replaced."""
    df = stations().to_dataframe().reset_index().assign(**columns)
    df.attrs["units"] = {"tas": "K"}
    return df


def _with_env(key, value, call):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(key, value)
        registry.clear_cache()
        try:
            return call()
        finally:
            registry.clear_cache()


@pytest.mark.parametrize("call, error, match", REFUSED)
def test_refused(call, error, match):
    refused(call, error, match)


WARNED = [
    pytest.param(lambda: xda.assimilate(tas_bg() - 273.15, stations(), method="oi", qc=None), PlausibilityWarning, r"look like degC", id="degC-labelled-K"),
    pytest.param(lambda: xda.assimilate(tas_bg(), stations(units="degC"), method="oi", qc=None), PlausibilityWarning,
                 r"'tas' ranges 2.*°C .*look like K", id="K-labelled-degC-obs"),
    pytest.param(lambda: xda.downscale(coarse() - 273.15, 4, method="bicubic"), PlausibilityWarning, r"look like degC", id="downscale-degC-labelled-K"),
    pytest.param(lambda: xda.assimilate(tas_bg(), repeat_first(stations(), 2), method="oi"), UserWarning, r"2 exact repeats", id="repeated-reports"),
    pytest.param(lambda: xda.assimilate(_humidity(), points([40.0], [260.0], [9.0], units="g kg-1", name="q"), method="oi",
                                        obs_error={"q": 0.5}),
                 XdaWarning, r"1 observation\(s\) of 'q' and no prior on its background-error std.*BackgroundError.constant",
                 id="one-report-without-statistics"),
    pytest.param(lambda: BackgroundError.constant(50.0, 600.0), XdaWarning, r"length_scale=600.0 m .*did you mean 600e3", id="B-length-in-km"),
    pytest.param(lambda: xda.assimilate(tas_bg(), stations().assign(tas_sigma=("obs", np.ones(40))), method="oi"), UserWarning,
                 r"look like error stds", id="unused-error-variable"),
    pytest.param(lambda: xda.downscale(coarse(), 4, method="lapse_rate", lapse_rate=6.5), XdaWarning,
                 r"lapse_rate=6.5 is positive.*-dT/dz", id="lapse-rate-textbook-sign"),
]


@pytest.mark.parametrize("call, warning, match", WARNED)
def test_warned(call, warning, match):
    warned(call, warning, match)


def _pole_spread(a):
    """Largest spread along longitude of the pole rows of every member."""
    rows = a.sel(lat=[-90.0, 90.0])
    return float((rows.max("lon") - rows.min("lon")).max())


def _rng_kept(call):
    import torch

    registry.clear_cache()  # also the first load of a model must leave the global RNG alone
    state = torch.get_rng_state().clone()
    call()
    return torch.equal(state, torch.get_rng_state())


def _unnamed_t2m(da):
    return xr.DataArray(da.values, coords=da.coords, dims=da.dims, name="t2m", attrs={"units": "K"})


def _many_points(n):
    """``n`` z500 reports at random positions (bilinear truth + 10 m noise)."""
    rng = np.random.default_rng(2)
    lat, lon = np.rad2deg(np.arcsin(rng.uniform(-0.99, 0.99, n))), rng.uniform(0, 357.5, n)
    t = _z500()[2]
    v = t.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs")).values + rng.normal(0, 10, n)
    return points(lat, lon, v, units="m", name="z500")


def _oi_within(limit_bytes, observations):
    """OI of ``observations`` with xda told that only ``limit_bytes`` can be allocated."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDA_MEMORY_LIMIT", str(limit_bytes))
        return oi(observations=observations, qc=None)


# (inputs, call, check): the call gets the inputs, which must be unchanged after it; the check gets the result and them
RIGHT = [
    pytest.param(lambda: (tas_bg(), repeat_first(stations(), 3)), lambda b, o: xda.assimilate(b, o, method="oi"),
                 lambda a, b, o: a["tas"].xda_n_obs == 40 and a["tas"].xda_n_obs_duplicate == 3 and a["tas"].xda_n_obs_rejected == 0,
                 id="three-repeats-reject-no-good-report"),
    pytest.param(lambda: (tas_bg(), stations().assign(tas=lambda d: d.tas.where(d.obs != 5, 400.0))),
                 lambda b, o: xda.assimilate(b, o, method="oi"), lambda a, b, o: a["tas"].xda_n_obs_rejected == 1, id="gross-error-rejected"),
    pytest.param(lambda: (_unnamed_t2m(_tas()[0]), stations(name="t2m")), lambda b, o: xda.assimilate(b, o),
                 lambda a, b, o: a.attrs["xda_method"] == "xda" and a.attrs["xda_n_obs"] == 40, id="t2m-without-standard-name-assimilate"),
    pytest.param(lambda: (_unnamed_t2m(coarse()),), lambda c: xda.downscale(c, 4, method="regression"),
                 lambda f, c: f.shape == (4 * c.shape[0], 4 * c.shape[1]), id="t2m-without-standard-name-downscale"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: xda.assimilate(b, o, members=2, seed=0, steps=4),
                 lambda a, b, o: _pole_spread(a["z500"]) == 0.0, id="poles-single-valued-members"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: xda.assimilate(b, o), lambda a, b, o: _pole_spread(a["z500"]) == 0.0,
                 id="poles-single-valued-mean"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: _rng_kept(lambda: xda.assimilate(b, o, members=2, steps=2)),
                 lambda kept, b, o: kept, id="seed-none-keeps-global-rng-assimilate"),
    pytest.param(lambda: (coarse(),), lambda c: _rng_kept(lambda: xda.downscale(c, 4, members=2, steps=2)),
                 lambda kept, c: kept, id="seed-none-keeps-global-rng-downscale"),
    pytest.param(lambda: (_many_points(20_000),), lambda o: _oi_within(600e6, o),
                 lambda a, o: a["z500"].xda_oi_solver.startswith("local") and np.isfinite(a["z500"]).all(), id="20k-obs-in-600MB"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: oi(b, o, model=str(cards.find("hs-t42-v2").with_suffix(".json"))),
                 lambda a, b, o: xr.testing.assert_identical(a.drop_attrs(), oi(b, o).drop_attrs()) is None, id="model-by-path"),
    pytest.param(lambda: (coarse(),), lambda c: xda.coarsen(c, 1), lambda a, c: xr.testing.assert_identical(a, c) is None, id="coarsen-1"),
    pytest.param(lambda: _in_360_day(), lambda b, o: xda.assimilate(b, o, method="oi", window="1h"),
                 lambda a, b, o: (a["tas"].xda_n_obs, a["tas"].xda_n_obs_outside_window) == (8, 32), id="window-in-360-day-calendar"),
    pytest.param(lambda: (coarse(), (coarse() - 273.15).assign_attrs(units="degC")), lambda a, b: xda.metrics.ssim(a, b),
                 lambda s, a, b: float(s) == pytest.approx(1.0), id="ssim-converts-units"),
    pytest.param(lambda: (obs().fillna(5500.0).astype(">f4"),), lambda z: xda.laplacian(z),
                 lambda r, z: np.allclose(r, xda.laplacian(z.astype("f4")), equal_nan=True), id="big-endian-float32"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: oi(b, o.isel(lat=slice(None, None, -1))),
                 lambda a, b, o: xr.testing.assert_allclose(a["z500"], oi(b, o)["z500"]) is None,
                 id="gridded-obs-other-latitude-order"),
    pytest.param(lambda: (bg().assign(mask=lambda d: (d.z500 * 0 + 1).drop_attrs()), obs()), lambda b, o: oi(b, o),
                 lambda a, b, o: a["mask"].equals(b["mask"]) and a["z500"].xda_n_obs > 0, id="unobserved-variable-without-units"),
    pytest.param(lambda: (bg().expand_dims(time=[np.datetime64("1958-01-01", "ns")]).transpose("lat", "time", "lon"), obs()),
                 lambda b, o: oi(b, o, window=None), lambda a, b, o: a["z500"].dims == ("lat", "time", "lon"),
                 id="size-1-time-keeps-the-dims-order"),
    pytest.param(lambda: (bg(), points(np.linspace(30, 40, 6), np.linspace(320, 330, 6), np.full(6, 5500.0), units="m", name="z500")),
                 lambda b, o: oi(b, o), lambda a, b, o: a["z500"].xda_n_obs + a["z500"].xda_n_obs_rejected == 6,
                 id="evenly-spaced-ship-track-is-points"),
    pytest.param(lambda: ((coarse() - 273.15).assign_attrs(units="C", standard_name="air_temperature").rename("tasmax"),),
                 lambda c: xda.downscale(c, 4, method="lapse_rate"),  # "C" in a climate file is Celsius (cf-xarray's registry)
                 lambda f, c: f.attrs["units"] == "C" and np.allclose(f, xda.downscale(c.assign_attrs(units="degC"), 4,
                                                                                      method="lapse_rate")), id="celsius-as-C"),
    pytest.param(lambda: (_global_coarse(), _one_degree()), lambda c, g: xda.downscale(c, method="lapse_rate", like=g),
                 lambda f, c, g: f.shape == (181, 360) and bool(np.isfinite(f).all()), id="like-global-target-with-poles"),
    pytest.param(lambda: (_global_coarse(), _one_degree()), lambda c, g: xda.downscale(c, like=g),
                 lambda f, c, g: f.shape == (181, 360) and f.attrs["xda_factor"] == 4, id="like-finer-than-the-models-factors"),
    pytest.param(lambda: _tas_and_winds(), lambda b, o: xda.assimilate(b, o, steps=2),
                 lambda a, b, o: (a["tas"].xda_method, a["uas"].xda_method, a["vas"].xda_method) == ("xda", "oi", "oi"),
                 id="univariate-model-with-winds-analyses-what-it-can"),
    pytest.param(lambda: (bg()["z500"],), lambda z: xda.metrics.rmse(z, z.isel(lat=slice(None, None, -1))),
                 lambda r, z: float(r) == 0.0, id="rmse-other-latitude-order"),
    pytest.param(lambda: (coarse(),), lambda c: xda.downscale(c, 4, method="lapse_rate", lapse_rate="-6.5 degC/km"),
                 lambda f, c: np.allclose(f, xda.downscale(c, 4, method="lapse_rate", lapse_rate=-6.5)), id="lapse-rate-degC-per-km"),
    pytest.param(lambda: (tas_bg(), stations()), lambda b, o: oi(b, o.assign_coords(lon=o.lon + 360), background_error=None),
                 lambda a, b, o: xr.testing.assert_allclose(a, oi(b, o, background_error=None)) is None, id="obs-longitudes-plus-360"),
    pytest.param(lambda: _360_day_with_real_reports(), lambda b, o: xda.assimilate(b, o, method="oi", window="1h"),
                 lambda a, b, o: (a["tas"].xda_n_obs, a["tas"].xda_n_obs_outside_window) == (8, 32), id="360-day-model-real-reports"),
    pytest.param(lambda: _in_360_day(), lambda b, o: xda.assimilate(b, o, method="oi", window=np.timedelta64(1, "h")),
                 lambda a, b, o: a["tas"].xda_n_obs == 8, id="window-numpy-timedelta"),
    pytest.param(lambda: (coarse().round().astype(np.int32),), lambda c: xda.coarsen(c, 2),
                 lambda r, c: r.dtype == np.float64 and np.allclose(r, xda.coarsen(c.astype(float), 2)), id="coarsen-integers-float-means"),
    pytest.param(lambda: (tas_bg(), stations()),
                 lambda b, o: xda.assimilate(b, o.assign(tas=lambda d: b.tas.interp(lat=d.lat, lon=d.lon) + 3.0
                                                         + np.random.default_rng(4).normal(0, 1, 40)),
                                             method="oi", background_error="innovations"),
                 lambda a, b, o: float((a.tas - b.tas).mean()) > 1.5, id="innovations-B-keeps-a-common-bias"),
    pytest.param(lambda: (), lambda: BackgroundError.constant(2.0, "500 km"), lambda be: be.length_scale == 5e5,
                 id="B-length-with-units"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: oi(b, o, obs_error={"z500": xr.full_like(o, 10.0).fillna(10.0).assign_attrs(units="m")}),
                 lambda a, b, o: xr.testing.assert_allclose(a, oi(b, o, obs_error={"z500": 10.0})) is None,
                 id="obs-error-field-for-gridded-observations"),
    pytest.param(lambda: (bg(), obs()), lambda b, o: oi(b, o.roll(lon=72, roll_coords=True).assign_coords(lon=lambda d: (d.lon + 180) % 360 - 180)),
                 lambda a, b, o: xr.testing.assert_allclose(a, oi(b, o)) is None, id="gridded-obs-other-longitude-convention"),
]


@pytest.mark.parametrize("inputs, call, check", RIGHT)
def test_right_result_and_inputs_unchanged(inputs, call, check):
    args = inputs()
    before = copy.deepcopy(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = call(*args)
    assert check(result, *args)
    for a, b in zip(args, before):
        xr.testing.assert_identical(a, b)
