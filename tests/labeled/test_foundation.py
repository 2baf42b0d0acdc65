"""The labeled layer: one unit path (absolute vs difference), grid recognition, no copies.

Each case here was once silently wrong (issue 8); each now gives the right answer or a
clear error.
"""

import tracemalloc

import numpy as np
import pint
import pytest
import xarray as xr

import xda
from xda.errors import CoordinateError, ObservationError, UnitsError
from xda.labeled import units as xu
from xda.labeled.grid import grid_of


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize("text, expected", [("degrees K", "kelvin"), ("deg C", "degree_Celsius"), ("Degree F", "degree_Fahrenheit"),
                                            ("DEG C", "degree_Celsius"), ("gpm", "meter"), ("MB", "hectopascal")])
def test_messy_unit_strings(text, expected):
    assert str(xu.parse_units(text)) == expected


def test_unknown_unit_string_says_how_to_set_units():
    with pytest.raises(UnitsError, match=r"attrs\['units'\] = 'K'"):
        xu.parse_units("not-a-unit (K)")


@pytest.mark.parametrize("value, units, number_units, expected", [
    ("0.5 degC", "K", None, 0.5), ("1.8 degF", "K", None, 1.0), ("0.5 K", "degC", None, 0.5),
    (1, "m", "dam", 10.0), (2.0, "K", "degC", 2.0), ("3 m/s", "km/h", None, 10.8),
])
def test_differences_convert_without_offsets(value, units, number_units, expected):
    assert xu.to_quantity(value, units, difference=True, number_units=number_units) == pytest.approx(expected)


def test_absolute_temperatures_keep_their_offset():
    assert xu.to_quantity("0.5 degC", "K") == pytest.approx(273.65)
    assert xu.scale_and_offset(xu.parse_units("degC"), "K") == (1.0, 273.15)


def _oi(bg, obs, **kw):
    return xda.assimilate(bg, obs, method="oi", background_error=xda.BackgroundError.constant(30.0, 800e3), **kw)


@pytest.fixture
def tas_case(z500):
    """A temperature-like case on the real NCEP grid: background in K, observations in degC."""
    truth = (250 + 0.01 * (z500["z500"].isel(time=0, drop=True) - 5500)).assign_attrs(units="K", standard_name="air_temperature")
    bg = (truth * 0 + float(truth.mean())).assign_attrs(truth.attrs)
    mask = np.random.default_rng(3).random(truth.shape) < 0.03
    obs = (truth - 273.15).where(mask).assign_attrs(units="degC")
    return bg.rename("tas").to_dataset(), obs.rename("tas")


def test_observation_error_as_temperature_difference(tas_case):
    """A tas_error of 0.5 degC is 0.5 K, not 273.65 K (which left the analysis at the background)."""
    bg, obs = tas_case
    ref = _oi(bg, obs, obs_error="0.5 K")["tas"]
    with_var = _oi(bg, obs.to_dataset().assign(tas_error=(obs * 0 + 0.5).assign_attrs(units="degC")))["tas"]
    xr.testing.assert_allclose(with_var, ref)
    assert float(np.abs(ref - bg["tas"]).max()) > 1.0
    xr.testing.assert_allclose(_oi(bg, obs, obs_error="0.9 degF")["tas"], ref)


def test_station_table_error_column_is_converted(tas_case):
    bg, obs = tas_case
    pts = obs.to_dataframe().dropna().reset_index()[["lat", "lon", "tas"]]
    pts["tas_error"] = 0.9
    pts.attrs["units"] = {"tas": "degC", "tas_error": "degF"}
    ref = pts.drop(columns="tas_error")
    ref.attrs["units"] = {"tas": "degC"}
    xr.testing.assert_allclose(_oi(bg, pts)["tas"], _oi(bg, ref, obs_error="0.5 K")["tas"])


def test_bare_obs_error_is_in_the_variables_units(global_case):
    bg, obs, _ = global_case
    bg_dam = (bg["z500"] / 10).assign_attrs(bg["z500"].attrs, units="dam").to_dataset()
    obs_dam = (obs / 10).assign_attrs(obs.attrs, units="dam")
    an_dam = xda.assimilate(bg_dam, obs_dam, method="oi", obs_error=1, background_error=xda.BackgroundError.constant(30.0, 800e3))  # working units: m
    an_m = xda.assimilate(bg, obs, method="oi", obs_error="10 m", background_error=xda.BackgroundError.constant(30.0, 800e3))
    np.testing.assert_allclose(an_dam["z500"].values * 10, an_m["z500"].values, rtol=1e-6)


def test_zero_observation_error_is_refused_not_replaced(global_case):
    bg, obs, _ = global_case
    with pytest.raises(ObservationError, match="positive"):
        xda.assimilate(bg, obs, method="oi", obs_error=0)


# ----------------------------------------------------------------------------- grids


def _field(lat, lon, **lat_attrs):
    rng = np.random.default_rng(0)
    return xr.DataArray(280 + rng.normal(size=(lat.size, lon.size)), dims=("lat", "lon"),
                        coords={"lat": ("lat", lat, lat_attrs), "lon": lon}, attrs={"units": "K"}, name="t")


def test_index_coordinates_beside_2d_latlon_are_refused():
    ny, nx = 5, 6
    lat2, lon2 = np.meshgrid(np.linspace(30, 50, ny), np.linspace(-100, -80, nx), indexing="ij")
    da = xr.DataArray(np.zeros((ny, nx)), dims=("y", "x"), attrs={"units": "K"},
                      coords={"y": np.arange(ny), "x": np.arange(nx),
                              "lat": (("y", "x"), lat2, {"standard_name": "latitude", "units": "degrees_north"}),
                              "lon": (("y", "x"), lon2, {"standard_name": "longitude", "units": "degrees_east"})})
    with pytest.raises(CoordinateError, match="curvilinear"):
        xda.laplacian(da)


def test_radians_and_rotated_poles_are_refused():
    da = _field(np.linspace(-1.2, 1.2, 7), np.linspace(0, 3, 8), units="radians")
    with pytest.raises(CoordinateError, match="radians"):
        xda.laplacian(da)
    rot = _field(np.linspace(-10, 10, 7), np.linspace(-10, 10, 8)).rename(lat="rlat", lon="rlon")
    rot["rlat"].attrs["standard_name"] = "grid_latitude"
    with pytest.raises(CoordinateError, match="rotated-pole"):
        xda.laplacian(rot, lat="rlat", lon="rlon")


def test_cyclic_point_is_a_periodic_grid(z500):
    z = z500["z500"].isel(time=0)
    cyc = xr.concat([z, z.isel(lon=[0]).assign_coords(lon=[360.0])], "lon")
    g = grid_of(cyc)
    assert g.periodic and g.cyclic_point
    lap, lap_cyc = xda.laplacian(z), xda.laplacian(cyc)
    xr.testing.assert_allclose(lap_cyc.isel(lon=slice(0, -1)), lap, rtol=1e-12)
    xr.testing.assert_allclose(lap_cyc.isel(lon=-1, drop=True), lap.isel(lon=0, drop=True), rtol=1e-12)
    gx_cyc = xda.gradient(cyc)[0]
    xr.testing.assert_allclose(gx_cyc.isel(lon=slice(0, -1)), xda.gradient(z)[0], rtol=1e-12)
    with pytest.raises(xda.errors.GridError, match="cyclic point"):
        xda.power_spectrum(cyc)


# ----------------------------------------------------------------------------- the labeled path


@pytest.mark.parametrize("dask", [False, True])
@pytest.mark.parametrize("descending", [False, True])
def test_latitude_order_gives_the_same_field(storm_t, dask, descending):
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]
    flip = (lambda a: a.isel(lat=slice(None, None, -1))) if descending else (lambda a: a)
    chunk = (lambda a: a.chunk(lat=12, lon=20)) if dask else (lambda a: a)
    ref = xda.advection_diffusion_residual(t, u, v, kappa=1e5)
    got = xda.advection_diffusion_residual(*(chunk(flip(a)) for a in (t, u, v)), kappa=1e5)
    xr.testing.assert_allclose(got.compute().sortby("lat"), ref.sortby("lat"), rtol=1e-10)


def test_dataset_applies_to_each_variable_with_units(storm_t):
    t = storm_t["t"]
    ds = storm_t[["t"]].assign(t2=(t * 2).assign_attrs(t.attrs), nounits=t.copy().drop_attrs())
    out = xda.laplacian(ds)
    assert set(out.data_vars) == {"t_laplacian", "t2_laplacian"}
    assert "nounits" in out.attrs["xda_skipped_without_units"]
    xr.testing.assert_allclose(out["t2_laplacian"], 2 * out["t_laplacian"].rename("t2_laplacian"))
    xr.testing.assert_identical(ds.phyda.laplacian()["t_laplacian"], out["t_laplacian"])
    wind = ds.assign(u=xda.datasets.open_dataset("storm1996_u")["u"], v=xda.datasets.open_dataset("storm1996_v")["v"])
    adv = xda.advection(wind, u="u", v="v")
    assert set(adv.data_vars) >= {"t_advection", "t2_advection"} and "u_advection" not in adv
    with pytest.raises(TypeError, match=r"divergence\(ds\['u'\], ds\['v'\]\)"):
        xda.divergence(wind, "v")


def test_pint_quantified_in_pint_quantified_out(storm_t):
    ureg = xu.registry()
    t = storm_t["t"]
    q = t.copy(data=ureg.Quantity(t.values - 273.15, "degC"))
    lap_q = xda.laplacian(q)
    assert isinstance(lap_q.data, pint.Quantity)
    assert lap_q.data.units == ureg.Unit("K / m**2")
    np.testing.assert_allclose(lap_q.data.magnitude, xda.laplacian(t).values, rtol=1e-9, equal_nan=True)


def test_labeled_call_allocates_only_its_output_and_honours_out(z500):
    z = z500["z500"].isel(time=0).isel(lat=slice(None, None, -1)).astype(np.float64)  # north-first
    z = xr.concat([z] * 8, "member")
    xda.laplacian(z)  # compile
    tracemalloc.start()
    res = xda.laplacian(z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.3 * z.nbytes
    buf = np.empty_like(z.values)
    again = xda.laplacian(z, out=buf)
    assert np.shares_memory(again.values, buf)
    xr.testing.assert_identical(again, res)


def test_numeric_cf_time_units(storm_t):
    t = storm_t["t"]
    u = xda.datasets.open_dataset("storm1996_u")["u"]
    v = xda.datasets.open_dataset("storm1996_v")["v"]
    ref = xda.advection_diffusion_residual(t, u, v, 1e5)
    hours = np.arange(t.sizes["time"]) * 6.0
    cf = [a.assign_coords(time=("time", hours, {"units": "hours since 1996-01-06 00:00"})) for a in (t, u, v)]
    np.testing.assert_allclose(xda.advection_diffusion_residual(*cf, 1e5).values, ref.values, rtol=1e-9, equal_nan=True)
    with pytest.raises(ValueError, match="finite"):
        xda.advection_diffusion_residual(t, u, v, kappa=float("nan"))
