"""Bad input to the numerics' settings and the labeled stencils, metrics and static fields (issue 25).

Each test is a call and what must happen: an XdaError whose message names the value and
the fix, or the right result (compared with the well-formed call).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xda
from xda import metrics
from xda.errors import CoordinateError, DataError, GridError, ParameterError, XdaWarning
from xda.numerics import memory, threads


def field(ny=9, nx=12, *, lat0=30.0, dlat=2.0, lon0=0.0, dlon=2.0, units="K", name="c", seed=0):
    """A (lat, lon) float64 field with units, random around 280."""
    lat, lon = lat0 + dlat * np.arange(ny), lon0 + dlon * np.arange(nx)
    data = np.random.default_rng(seed).normal(280.0, 2.0, (ny, nx))
    return xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name=name, attrs={"units": units})


def series(nt=3):
    """(c, u, v) on a regional grid at ``nt`` six-hourly times."""
    base = field()
    time = np.datetime64("1996-01-06T00", "ns") + np.arange(nt) * np.timedelta64(6, "h")
    c = xr.concat([base + k for k in range(nt)], "time").assign_coords(time=time).assign_attrs(units="K")
    u = xr.full_like(c, 8.0).rename("u").assign_attrs(units="m/s")
    return c, u, xr.full_like(u, -3.0).rename("v")


# ----------------------------------------------------------------------------- settings: memory and threads


@pytest.mark.parametrize("text, nbytes", [("8GB", 8 * 10**9), ("8 GiB", 8 * 2**30), ("512M", 512 * 2**20), ("1e6", 10**6)])
def test_memory_limit_with_units_is_read(monkeypatch, text, nbytes):
    monkeypatch.setenv(memory.ENV, text)
    assert memory.available_bytes() == nbytes


@pytest.mark.parametrize("text", ["lots", "-1", "0", "8XB", "nan"])
def test_memory_limit_not_a_size_names_the_setting(monkeypatch, text):
    monkeypatch.setenv(memory.ENV, text)
    with pytest.raises(ParameterError, match=rf"XDA_MEMORY_LIMIT='{text}' is not a positive memory size.*XDA_MEMORY_LIMIT=8GB"):
        memory.available_bytes()


@pytest.mark.parametrize("n", [0, -2, "two", 2.5, True])
def test_set_num_threads_refuses_a_non_count(n):
    with pytest.raises(ParameterError, match=rf"n={n!r} must be an integer >= 1.*xda.set_num_threads\(1\)"):
        xda.set_num_threads(n)


def test_num_threads_env_not_a_number_names_the_variable(monkeypatch):
    monkeypatch.setenv(threads.ENV, "many")
    with pytest.raises(ParameterError, match=r"XDA_NUM_THREADS='many' must be an integer >= 1.*XDA_NUM_THREADS=1"):
        xda.set_num_threads()


def test_num_threads_env_text_of_a_number_is_read(monkeypatch):
    monkeypatch.setenv(threads.ENV, " 2 ")
    assert threads.default_threads() == 2


# ----------------------------------------------------------------------------- stencils: out=, dtypes, arguments


@pytest.mark.parametrize("out, got", [(np.empty((3, 3)), r"shape \(3, 3\)"), (np.empty((9, 12), np.int64), "dtype int64"),
                                      (np.empty((12, 9)).T, "not C-contiguous"), ("buffer", "a str")])
def test_laplacian_out_wrong_names_the_expected_array(out, got):
    with pytest.raises(ParameterError, match=rf"out= must be .*float64 array of shape \(9, 12\).*got .*{got}.*np\.empty"):
        xda.laplacian(field(), out=out)


def test_residual_out_wrong_shape_is_a_parameter_error():
    c, u, v = series()
    with pytest.raises(ParameterError, match=r"out= must be .*shape \(3, 9, 12\)"):
        xda.advection_diffusion_residual(c, u, v, 1e5, out=np.empty((2, 9, 12)))


def test_out_is_filled_even_by_operations_that_allocate():
    u = field(name="u", units="m/s")
    buf = np.empty(u.shape)
    res = xda.divergence(u, u, out=buf)
    assert np.shares_memory(res.values, buf)
    xr.testing.assert_identical(res, xda.divergence(u, u))


def test_out_with_dask_input_is_refused():
    with pytest.raises(ParameterError, match="out= cannot be filled from dask-backed 'c'"):
        xda.laplacian(field().chunk(), out=np.empty((9, 12)))


def test_laplacian_of_booleans_is_refused():
    mask = (field() > 280).assign_attrs(units="K")
    with pytest.raises(DataError, match=r"c \('c'\) holds bool values.*boolean mask has no derivative.*astype\(float\)"):
        xda.laplacian(mask)


def test_laplacian_of_complex_is_refused():
    with pytest.raises(DataError, match=r"complex128.*c\.real"):
        xda.laplacian((field() + 1j).assign_attrs(units="K"))


def test_laplacian_of_float16_is_computed_in_float32():
    c16 = field().astype(np.float16).assign_attrs(units="K")
    res = xda.laplacian(c16)
    xr.testing.assert_identical(res, xda.laplacian(c16.astype(np.float32)))
    xr.testing.assert_allclose(res, xda.laplacian(c16.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-18)


@pytest.mark.parametrize("op", [lambda c: xda.laplacian(c), lambda c: xda.gradient(c)[0]])
def test_big_endian_float32_equals_native(op):
    c = field().astype(np.float32).assign_attrs(units="K")
    xr.testing.assert_identical(op(c.astype(">f4")), op(c))


def test_big_endian_residual_equals_native():
    c, u, v = (a.astype(np.float32) for a in series())
    ref = xda.advection_diffusion_residual(c, u, v, 1e5)
    xr.testing.assert_identical(xda.advection_diffusion_residual(*(a.astype(">f4") for a in (c, u, v)), 1e5), ref)


def test_scalar_winds_are_refused_with_the_broadcast():
    with pytest.raises(ParameterError, match=r"u is 8\.0: for a constant u, broadcast it: `u = xr\.full_like\(c, 8\.0\)"):
        xda.advection(field(), 8.0, -3.0)


def test_numpy_field_is_refused_with_the_wrapping():
    with pytest.raises(ParameterError, match=r"laplacian\(\) takes c as an xarray DataArray.*ndarray of shape \(9, 12\)"):
        xda.laplacian(field().values)


def test_effective_diffusivity_dim_typo_names_the_dimension():
    with pytest.raises(CoordinateError, match=r"dim='tim'.*'tim' is not a dimension.*did you mean 'time'"):
        xda.effective_diffusivity(*series(), dim="tim")


# ----------------------------------------------------------------------------- coordinates


def radians_global():
    lat, lon = np.deg2rad(np.arange(-87.5, 88, 2.5)), np.deg2rad(np.arange(0, 360, 2.5))
    data = np.cos(lat)[:, None] * np.sin(lon)[None] + 280.0
    return xr.DataArray(data, dims=("lat", "lon"), coords={"lat": lat, "lon": lon}, name="t", attrs={"units": "K"})


def test_global_grid_in_radians_without_units_is_refused():
    with pytest.raises(CoordinateError, match=r"look like radians.*np\.rad2deg"):
        xda.laplacian(radians_global())


def test_small_degree_region_near_the_origin_is_not_taken_for_radians():
    c = field(4, 7, lat0=-1.5, dlat=1.0, lon0=0.0, dlon=1.0)
    assert np.isfinite(xda.laplacian(c).isel(lat=slice(1, -1), lon=slice(1, -1))).all()


def test_latitude_weights_on_points_say_they_are_points():
    pts = xr.DataArray(np.arange(5.0), dims="obs", coords={"lat": ("obs", np.arange(5.0)), "lon": ("obs", np.arange(5.0))},
                       attrs={"units": "K"})
    with pytest.raises(GridError, match=r"points \(stations, a track\), not a grid.*weights=None"):
        metrics.rmse(pts, pts + 1, weights="latitude")


# ----------------------------------------------------------------------------- metrics


def test_scorecard_of_dataarrays_says_to_dataset():
    with pytest.raises(ParameterError, match=r"scorecard\(\) takes Datasets.*forecast is a DataArray.*to_dataset\(name='c'\)"):
        metrics.scorecard(field(), field())


def test_scorecard_variables_as_a_string():
    ds = field().to_dataset()
    assert list(metrics.scorecard(ds, ds + 1, variables="c")["variable"]) == ["c"]


@pytest.mark.parametrize("factor", [0, -2, 1.5])
def test_seam_ratio_factor_is_checked(factor):
    with pytest.raises(ParameterError, match=rf"factor={factor!r} must be an integer >= 1.*downscaling factor"):
        metrics.seam_ratio(field(), field(), factor)


def test_seam_ratio_against_a_constant_reference_warns():
    with pytest.warns(XdaWarning, match="no jump across the edges of 2 x 2 coarse cells"):
        r = metrics.seam_ratio(field(), xr.full_like(field(), 280.0), 2)
    assert np.isinf(float(r))


# ----------------------------------------------------------------------------- static fields


def test_surface_altitude_latitude_outside_range():
    with pytest.raises(CoordinateError, match=r"lat=\.\.\.\) holds \[100\.0\], outside -90\.\.90"):
        xda.static.surface_altitude(np.array([80.0, 100.0]), np.array([0.0, 10.0]))


def test_surface_altitude_of_one_point_asks_for_two_centres():
    with pytest.raises(GridError, match=r"at least 2 distinct finite lat values, got 1 point"):
        xda.static.surface_altitude(np.array([45.0]), np.array([7.0]))


def test_land_fraction_of_a_meshgrid_asks_for_1d():
    la, lo = np.meshgrid([40.0, 41.0], [5.0, 6.0], indexing="ij")
    with pytest.raises(ParameterError, match=r"1-D lat.*shape \(2, 2\)"):
        xda.static.land_area_fraction(la, lo)
