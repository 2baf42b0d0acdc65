"""Dask-backed inputs: lazy results, one task per chunk, equal to the eager calls (issue 28)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xda
from xda.errors import ParameterError
from xda.tasks import lazy


@pytest.fixture(scope="module")
def series():
    """Five monthly z500 backgrounds (the truth + 30 m) and gridded observations of six times (3 %)."""
    z500 = xda.datasets.open_dataset("ncep_z500_global")
    bg = (z500.isel(time=slice(0, 5)) + 30.0).assign_attrs(z500.attrs)
    bg["z500"].attrs = z500["z500"].attrs
    mask = np.random.default_rng(0).random(z500["z500"].shape[1:]) < 0.03
    return bg, z500["z500"].isel(time=slice(0, 6)).where(mask)


def test_a_chunked_background_gives_a_lazy_analysis_equal_to_the_eager_one(series):
    bg, obs = series
    eager = xda.assimilate(bg, obs, method="oi")
    got = xda.assimilate(bg.chunk(time=2), obs, method="oi")
    assert got["z500"].chunks == ((2, 2, 1), (73,), (144,)) and got["z500_standard_error"].chunks is not None
    assert "3 tasks" in got.attrs["xda_lazy"] and got["z500"].attrs["units"] == "m"
    assert "xda_n_obs" not in got["z500"].attrs  # measured per analysis: not kept
    computed = got.compute()
    xr.testing.assert_allclose(computed["z500"], eager["z500"])
    xr.testing.assert_allclose(computed["z500_standard_error"], eager["z500_standard_error"])
    assert bg["z500"].chunks is None  # the input is not touched


def test_a_chunked_dataarray_keeps_its_standard_error_coordinate_per_time(series):
    bg, obs = series
    eager = xda.assimilate(bg["z500"], obs, method="oi")
    assert eager["z500_standard_error"].dims == ("time", "lat", "lon")
    got = xda.assimilate(bg["z500"].chunk(time=3), obs, method="oi")
    assert got.chunks is not None and got["z500_standard_error"].chunks is not None
    xr.testing.assert_allclose(got.compute(), eager)
    with pytest.raises(ParameterError, match=r"obs_space=True returns a table, which cannot be lazy"):
        xda.assimilate(bg["z500"].chunk(time=3), obs, method="oi", obs_space=True)


def test_each_task_takes_only_the_reports_of_its_windows():
    table = pd.DataFrame({"lat": [0.0] * 5, "lon": [1.0] * 5, "t": [280.0] * 5,
                          "time": pd.to_datetime(["2000-01-01T00", "2000-01-01T05", "2000-01-02T00",
                                                  "2000-01-03T00", "2000-01-05T00"])})
    t0, t1 = np.datetime64("2000-01-01T00"), np.datetime64("2000-01-02T00")
    part = lazy.observations_for(table, t0, t1, "6h")
    assert list(part.index) == [0, 1, 2]
    assert lazy.observations_for(table, t0, t1, None) is table  # window=None: every report, every task
    untimed = table.drop(columns="time")
    assert lazy.observations_for(untimed, t0, t1, "6h") is untimed
    grid = xr.DataArray(np.zeros((4, 2, 2)), dims=("time", "lat", "lon"),
                        coords={"time": pd.date_range("2000-01-01", periods=4, freq="D"), "lat": [0, 1], "lon": [0, 1]})
    assert lazy.observations_for(grid, t0, t1, "6h").sizes["time"] == 2


def test_a_station_table_is_split_by_time_and_gives_the_eager_analyses(series):
    bg, _ = series
    z = xda.datasets.open_dataset("ncep_z500_global")["z500"]
    rng = np.random.default_rng(1)
    rows = []
    for i in range(5):
        lat, lon = rng.uniform(-80, 80, 60), rng.uniform(0, 357, 60)
        value = z.isel(time=i).interp(lat=xr.DataArray(lat), lon=xr.DataArray(lon)).values
        rows.append(pd.DataFrame({"lat": lat, "lon": lon, "z500": value, "time": z["time"].values[i]}))
    table = pd.concat(rows, ignore_index=True)
    table.attrs["units"] = {"z500": "m"}
    eager = xda.assimilate(bg, table, method="oi")
    got = xda.assimilate(bg.chunk(time=2), table, method="oi").compute()
    xr.testing.assert_allclose(got["z500"], eager["z500"])


def test_a_chunked_coarse_field_downscales_lazily_block_by_block():
    t = xda.datasets.open_dataset("esm_tas")[["tas"]].isel(time=slice(0, 5))
    c = xda.coarsen(t, 2)
    got = xda.downscale(c.chunk(time=3), 2)
    assert got["tas"].chunks == ((3, 2), (96,), (192,))
    blocks = [xda.downscale(c.isel(time=slice(a, b)), 2) for a, b in ((0, 3), (3, 5))]
    xr.testing.assert_allclose(got.compute(), xr.concat(blocks, "time", combine_attrs="drop_conflicts"))
    classical = xda.downscale(c["tas"].chunk(time=2), 2, method="lapse_rate")  # no verification: chunk-free
    xr.testing.assert_allclose(classical.compute(), xda.downscale(c["tas"], 2, method="lapse_rate"))
    members = xda.downscale(c["tas"].chunk(time=3), 2, members=2, seed=5, steps=2).compute()
    second = xda.downscale(c["tas"].isel(time=slice(3, 5)), 2, members=2, seed=lazy.block_seed(5, 3), steps=2)
    np.testing.assert_allclose(members.isel(time=slice(3, 5)).values, second.values)
    assert not np.allclose(members.isel(time=slice(0, 2)).values, second.values)  # each block its own noise
    assert members.attrs["xda_members"] == second.attrs["xda_members"]  # how they were made, kept on the lazy result


def test_a_lazy_analysis_runs_on_a_local_cluster_of_processes(series):
    """The same call on a dask.distributed cluster of two worker processes (each loads what it needs once)."""
    distributed = pytest.importorskip("distributed")
    bg, obs = series
    eager = xda.assimilate(bg.isel(time=slice(0, 4)), obs, method="oi")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        got = xda.assimilate(bg.isel(time=slice(0, 4)).chunk(time=2), obs, method="oi").compute()
    xr.testing.assert_allclose(got["z500"], eager["z500"])
