import numpy as np
import pytest
import xarray as xr

import xda
from xda.labeled.grid import grid_of
from xda.errors import CoordinateError, GridError


def test_regional_grid_is_not_periodic(storm_t):
    g = grid_of(storm_t)
    assert not g.periodic and g.shape == (33, 36)


def test_gaussian_grid_found_by_cf_attrs():
    ds = xda.datasets.open_dataset("esm_tas")
    g = grid_of(ds)
    assert g.periodic and g.shape == (96, 192)


def test_explicit_names_and_missing_coordinates():
    da = xr.DataArray(np.zeros((3, 4)), dims=("yy", "xx"), coords={"yy": [0.0, 1, 2], "xx": [0.0, 1, 2, 3]})
    with pytest.raises(CoordinateError, match="pass it explicitly"):
        grid_of(da)
    g = grid_of(da, lat="yy", lon="xx")
    assert g.lat_dim == "yy" and not g.periodic


def test_descending_latitudes_and_unsorted_longitudes(z500):
    g = grid_of(z500.isel(lat=slice(None, None, -1)))
    assert g.lat[0] > g.lat[-1]
    rolled = z500.assign_coords(lon=(((z500.lon + 180) % 360) - 180))
    with pytest.raises(GridError, match="sortby"):
        grid_of(rolled)
    assert grid_of(rolled.sortby("lon")).periodic
