"""The lapse-rate height term of the observation operator for near-surface temperature."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xda
from xda.errors import GridError
from xda.labeled.observations import to_model_terrain
from xda.numerics.interp import bilinear_weights

GAMMA = -6.5e-3  # K/m
LAT, LON = np.arange(30.0, 50.1, 1.0), np.arange(-120.0, -89.9, 1.0)
B = xda.BackgroundError.constant(1.0, 3e5)


def terrain():
    """A model terrain linear in lat and lon (bilinear interpolation is exact on it), m."""
    return xr.DataArray(100.0 + 40.0 * (LAT[:, None] - 30.0) + 30.0 * (LON[None, :] + 120.0), dims=("lat", "lon"),
                        coords={"lat": LAT, "lon": LON}, name="orog", attrs={"units": "m", "standard_name": "surface_altitude"})


def background(t0=288.0):
    """Temperature at the model's ground: T0 + gamma z_model."""
    return (t0 + GAMMA * terrain()).rename("tas").assign_attrs(units="K", standard_name="air_temperature")


def stations(t0=288.0, elevation_units="m"):
    """Reports at their own elevations, from the same atmosphere (T0 + gamma z): zero innovations with H's height term."""
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(31, 49, 30), rng.uniform(-119, -91, 30)
    z = rng.uniform(0, 3000, 30)
    scale = {"m": 1.0, "ft": 1 / 0.3048}[elevation_units]
    df = pd.DataFrame({"lat": lat, "lon": lon, "tas": t0 + GAMMA * z, "elevation": z * scale})
    df.attrs["units"] = {"tas": "K", "elevation": elevation_units}
    return df


def test_operator_term_is_exact():
    """``to_model_terrain`` adds gamma (z_s - W z_m): a report on the model's ground gets no term."""
    op, inside = bilinear_weights(LAT, LON, np.array([40.0, 35.5]), np.array([-100.0, -110.25]), periodic=False)
    zm = terrain().values
    from xda.labeled.observations import PointObservations

    ob = PointObservations("tas", np.array([280.0, 281.0]), np.array([40.0, 35.5]), np.array([-100.0, -110.25]),
                           np.ones(2), op, False, elevation=np.array([100.0 + 40 * 10 + 30 * 20, np.nan]))
    out = to_model_terrain(ob, zm, GAMMA)
    np.testing.assert_allclose(out.offset, [0.0, 0.0], atol=1e-9)  # on the ground; no elevation -> no term
    ob.elevation[0] += 1000.0
    out = to_model_terrain(ob, zm, GAMMA)
    np.testing.assert_allclose(out.offset, [-6.5, 0.0])
    np.testing.assert_allclose(out.reported, ob.value)
    np.testing.assert_allclose(out.value, ob.value + 6.5 * np.array([1, 0]))


@pytest.mark.parametrize("how", ["variable", "argument"])
def test_reports_from_the_same_atmosphere_have_zero_innovations(how):
    bg = background().to_dataset()
    kw = {}
    if how == "variable":
        bg["orog"] = terrain()
    else:
        kw["orography"] = terrain()
    an, table = xda.assimilate(bg, stations(), method="oi", background_error=B, obs_space=True, **kw)
    np.testing.assert_allclose(table["omb"], 0.0, atol=1e-9)
    np.testing.assert_allclose(table["observation"], stations()["tas"])
    zm = 100.0 + 40.0 * (table["lat"] - 30.0) + 30.0 * (table["lon"] + 120.0)  # W z_model (exact: linear)
    np.testing.assert_allclose(table["height_term"], GAMMA * (table["elevation"] - zm), atol=1e-9)
    xr.testing.assert_allclose(an["tas"].drop_attrs(), bg["tas"].drop_attrs())
    assert "-6.5 K/km" in an["tas"].attrs["xda_obs_height_adjustment"]
    # without the term the same reports look 0-20 K off and the analysis moves
    an2, t2 = xda.assimilate(bg, stations(), method="oi", background_error=B, obs_space=True, orography=False, qc=None)
    assert np.abs(t2["omb"]).max() > 3.0 and "height_term" not in t2
    assert "xda_obs_height_adjustment" not in an2["tas"].attrs


def test_elevation_units_and_coordinate_forms():
    """Elevation in feet (converted), and as a coordinate of a point Dataset with a CF standard name."""
    bg = background().to_dataset()
    ref = xda.assimilate(bg, stations(), method="oi", background_error=B, orography=terrain())
    feet = xda.assimilate(bg, stations(elevation_units="ft"), method="oi", background_error=B, orography=terrain())
    xr.testing.assert_allclose(ref, feet)
    df = stations()
    ds = xr.Dataset({"tas": ("obs", df["tas"].to_numpy(), {"units": "K"})},
                    coords={"lat": ("obs", df["lat"].to_numpy()), "lon": ("obs", df["lon"].to_numpy()),
                            "stn_z": ("obs", df["elevation"].to_numpy(), {"units": "m", "standard_name": "surface_altitude"})})
    xr.testing.assert_allclose(ref, xda.assimilate(bg, ds, method="oi", background_error=B, orography=terrain()))


@settings(max_examples=20, deadline=None)
@given(t0=st.floats(250.0, 310.0), flip=st.booleans())
def test_height_term_invariant_to_latitude_order(t0, flip):
    """Property: reports from the background's own atmosphere fit it exactly, whatever the latitude order."""
    bg, orog = background(t0).to_dataset(), terrain()
    if flip:
        bg = bg.isel(lat=slice(None, None, -1))
    _, table = xda.assimilate(bg, stations(t0), method="oi", background_error=B, obs_space=True, orography=orog)
    np.testing.assert_allclose(table["omb"], 0.0, atol=1e-8)


def test_orography_on_another_grid_is_refused():
    with pytest.raises(GridError, match=r"orography 'orog'.*background's 21 x 31 grid.*orography_like"):
        xda.assimilate(background(), stations(), method="oi", orography=terrain().isel(lat=slice(0, 10)))


def test_real_stations_fit_better_with_the_height_term():
    """Real SAO reports (1995-03-18 06 UTC) on the MPI-ESM background: a fifth of the stations withheld; the
    analysis of the rest predicts them better with H's height term (ETOPO20 as the model's terrain)."""
    s = xda.datasets.open_dataset("sao_stations")
    s = s.where(s["hour"] == 6, drop=True)
    df = pd.DataFrame({"lat": s.lat.values, "lon": s.lon.values % 360, "tas": s["T"].values,
                       "elevation": s.elevation.values}).dropna()
    df = df[(df.lat > 20) & (df.lat < 60) & (df.lon > 235) & (df.lon < 295) & (df.tas.abs() < 60)]
    df = df.drop_duplicates(["lat", "lon"]).reset_index(drop=True)
    test = np.random.default_rng(6).integers(0, 5, len(df)) == 0
    bg = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=2, drop=True).sel(lat=slice(15, 65), lon=slice(225, 300))
    rmse = {}
    for orog in (False, None):
        train, held = df[~test].copy(), df[test].copy()
        train.attrs = held.attrs = {"units": {"tas": "degC", "elevation": "m"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            an = xda.assimilate(bg, train, method="oi", obs_error={"tas": 1.5}, orography=orog, window=None)
            _, table = xda.assimilate(an[["tas"]], held, method="oi", obs_space=True, orography=orog, window=None, qc=None,
                                      background_error=xda.BackgroundError.constant(1e-6, 3e5))
        rmse[orog] = float(np.sqrt((table["omb"] ** 2).mean()))
    assert rmse[None] < 0.95 * rmse[False], rmse


def _coarse_global_case(month):
    """300 good reports (1 K noise) of MPI-ESM tas at random points, a 5 x 7.5 deg background of the same month."""
    t = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=month)
    bg = t.interp(lat=np.arange(-87.5, 90, 5.0), lon=np.arange(0, 360, 7.5), kwargs={"fill_value": None})
    rng = np.random.default_rng(month)
    lat, lon = np.rad2deg(np.arcsin(rng.uniform(-1, 1, 300))), rng.uniform(0, 360, 300)
    value = t.interp(lat=xr.DataArray(lat, dims="obs"), lon=xr.DataArray(lon, dims="obs"),
                     kwargs={"fill_value": None}).values + rng.normal(0, 1, 300)
    obs = xr.Dataset({"tas": ("obs", value, {"units": "K"})}, coords={"lat": ("obs", lat), "lon": ("obs", lon)})
    return bg.to_dataset(name="tas"), obs


def test_background_check_allows_for_unresolved_relief():
    """Good reports on the Antarctic escarpment and in the Himalaya, without elevations, on a 5 x 7.5 deg
    background: none rejected (the check allows |gamma| x the cell's sub-grid relief std); gross errors still are."""
    bg, obs = _coarse_global_case(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = xda.assimilate(bg, obs, method="oi", orography=False)  # the check without the allowance
        a = xda.assimilate(bg, obs, method="oi")
        gross = obs.assign(tas=obs.tas + np.where(np.arange(300) < 5, 20.0, 0.0))
        g, table = xda.assimilate(bg, gross, method="oi", obs_space=True)
    assert plain.tas.xda_n_obs_rejected >= 1 and a.tas.xda_n_obs_rejected == 0
    assert g.tas.xda_n_obs_rejected == 5 and set(np.flatnonzero(table.qc != table.qc.iloc[-1])) == set(range(5))
