import numpy as np
import pytest
import xarray as xr

import xda


@pytest.fixture(scope="session")
def z500():
    """Real NCEP 500 hPa heights, global 2.5 deg, repaired."""
    return xda.datasets.open_dataset("ncep_z500_global")


@pytest.fixture(scope="session")
def storm_t():
    """Real January 1996 surface temperature, regional."""
    return xda.datasets.open_dataset("storm1996_t")


@pytest.fixture
def global_case(z500):
    """Background (climatology of other fields) and 2 % gridded observations of one field."""
    truth = z500["z500"].isel(time=0, drop=True)
    bg = z500["z500"].isel(time=slice(1, None)).mean("time")
    bg.attrs = dict(truth.attrs)
    rng = np.random.default_rng(1)
    mask = rng.random(truth.shape) < 0.02
    obs = truth.where(mask) + xr.DataArray(rng.normal(0, 10, truth.shape), dims=truth.dims).where(mask)
    obs.attrs = dict(truth.attrs)
    return bg.to_dataset(name="z500"), obs.rename("z500"), truth
