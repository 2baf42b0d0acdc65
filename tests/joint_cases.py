"""The joint model's test state, shared by the tests of the model (tests/models) and of the tasks (tests/tasks)."""

import numpy as np
import xarray as xr

from xda.numerics import balance, stencils

#: variable: (standard name, units, climatological mean, std, s_b, L in m)
STATE = {"z500": ("geopotential_height", "m", 5500.0, 300.0, 20.0, 5e5),
         "tas": ("air_temperature", "K", 280.0, 15.0, 1.0, 4e5),
         "u500": ("eastward_wind", "m s-1", 8.0, 11.0, 2.0, 4e5),
         "v500": ("northward_wind", "m s-1", 0.0, 9.0, 2.0, 4e5)}


def joint_state(seed=0, ny=32, nx=64):
    """Truth and background Datasets of the four variables on a global 5.625-degree grid, winds balanced."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-87.1875, 87.1875, ny)
    lon = np.arange(nx) * 360 / nx
    geo = stencils.geometry(lat, lon, True)
    yy, xx = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    coords = {"lat": ("lat", lat, {"units": "degrees_north"}), "lon": ("lon", lon, {"units": "degrees_east"})}
    out = []
    for phase in (0.0, 0.6):
        z = 5500 + 150 * np.cos(yy) ** 2 * np.sin(3 * xx + phase) + 100 * np.sin(2 * yy)
        ug, vg = balance.geostrophic_wind(z, geo)
        tas = 280 + 20 * np.cos(yy) + 2 * np.sin(2 * xx + phase)
        fields = {"z500": z, "tas": tas, "u500": ug, "v500": vg}
        out.append(xr.Dataset({k: (("lat", "lon"), a, {"units": STATE[k][1], "standard_name": STATE[k][0]}) for k, a in fields.items()},
                              coords=coords))
    truth, bg = out
    mask = rng.random((ny, nx)) < 0.08
    obs = truth[["z500"]].where(mask) + xr.where(mask, 3 * rng.standard_normal((ny, nx)), 0)
    return truth, bg, obs, geo
