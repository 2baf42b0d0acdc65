import numpy as np
import pytest
import xarray as xr

import xda
from xda.labeled.grid import grid_of


def test_all_bundled_files_open_with_units():
    for name in xda.datasets.available():
        ds = xda.datasets.open_dataset(name)
        assert "xda_repairs" in ds.attrs and "xda_source" in ds.attrs
        for v in ds.data_vars:
            if ds[v].ndim and ds[v].dtype.kind == "f" and not v.endswith("_bnds"):
                assert "units" in ds[v].attrs, (name, v)


def test_storm_files_get_units_time_and_cf_names(storm_t):
    raw = xr.open_dataset(xda.datasets.path("storm1996_t"), decode_times=False)
    assert "units" not in raw["t"].attrs  # the real file lacks them
    t = storm_t["t"]
    assert t.attrs["units"] == "K" and t.attrs["standard_name"] == "air_temperature"
    assert np.issubdtype(storm_t["time"].dtype, np.datetime64)
    assert str(storm_t["time"].values[0]).startswith("1996-01-05T00")
    assert float(t.min()) > 200 and float(t.max()) < 320
    assert t.cf["latitude"].name == "lat"


def test_ncep_z500_repairs(z500):
    assert z500["z500"].attrs["units"] == "m"
    assert z500["z500"].attrs["standard_name"] == "geopotential_height"
    assert 4500 < float(z500["z500"].min()) and float(z500["z500"].max()) < 6200
    g = grid_of(z500)
    assert g.periodic and g.shape == (73, 144)


def test_sao_station_table():
    s = xda.datasets.open_dataset("sao_stations")
    assert s["T"].attrs["units"] == "degC"
    assert float(s["T"].max()) == pytest.approx(406.0)  # the gross error is kept for QC
    assert np.all(np.abs(s["lon"].values) <= 360)
    assert s.sizes["obs"] > 30000


def test_unknown_dataset():
    with pytest.raises(KeyError, match="available"):
        xda.datasets.open_dataset("era5")
