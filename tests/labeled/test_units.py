import numpy as np
import pytest
import xarray as xr

import xda

from xda.labeled import units as xu
from xda.errors import UnitsError


@pytest.mark.parametrize(
    "text, target, value, expected",
    [("gpm", "m", 5500.0, 5500.0), ("celsius", "K", 0.0, 273.15), ("DEG C", "K", 10.0, 283.15),
     ("MB", "Pa", 1000.0, 1e5), ("hectopascals", "Pa", 1.0, 100.0), ("M/S", "m/s", 3.0, 3.0), ("K", "degC", 273.15, 0.0)],
)
def test_messy_unit_strings(text, target, value, expected):
    da = xr.DataArray([value], attrs={"units": text}, name="x")
    np.testing.assert_allclose(xu.magnitude(da, target), [expected])


def test_missing_units_message_names_variable_and_fix():
    da = xr.DataArray([1.0], name="t2m")
    with pytest.raises(UnitsError, match=r"'t2m' has no units.*attrs\['units'\]"):
        xu.units_of(da)


def test_incompatible_units():
    da = xr.DataArray([1.0], name="z", attrs={"units": "m"})
    with pytest.raises(UnitsError, match="cannot be converted"):
        xu.magnitude(da, "K")


def test_unreadable_units():
    with pytest.raises(UnitsError, match="set them explicitly"):
        xu.parse_units("furlongs per fortnightish", name="q")


def test_convert_keeps_attrs_and_does_not_mutate():
    da = xr.DataArray([0.0, 10.0], attrs={"units": "degC", "long_name": "t"}, name="t")
    before = da.copy(deep=True)
    out = xu.convert(da, "K")
    xr.testing.assert_identical(da, before)
    assert out.attrs["units"] == "K" and out.attrs["long_name"] == "t"
    np.testing.assert_allclose(out.values, [273.15, 283.15])


def test_quantity_arguments():
    assert xu.to_quantity("1 hPa", "Pa") == pytest.approx(100.0)
    assert xu.to_quantity(2.5, "m") == 2.5


def test_pint_xarray_round_trip_with_quantified_index_coordinates():
    """``ds.pint.quantify(unit_registry=cf_xarray.units.units)`` also quantifies the index coordinates (a
    ``PintIndex``): every public function that says "pint in, pint out" takes such input, returns quantities
    in the right units, and agrees with the plain call."""
    import cf_xarray.units
    import pint
    import pint_xarray  # noqa: F401

    ureg = cf_xarray.units.units
    box = dict(time=slice(0, 3), lat=slice(4, 32), lon=slice(6, 30))
    plain = {v: xda.datasets.open_dataset(f"storm1996_{v}").isel(box)[v] for v in ("t", "u", "v")}
    q = {v: da.to_dataset().pint.quantify(unit_registry=ureg)[v] for v, da in plain.items()}
    assert type(q["t"].xindexes["lat"]).__name__ == "PintIndex"
    t, u, v = q["t"], q["u"], q["v"]
    z = xda.datasets.open_dataset("ncep_z500_global").isel(time=slice(0, 3))["z500"]
    zq = z.to_dataset().pint.quantify(unit_registry=ureg)["z500"]
    ens = t.expand_dims(member=3) + np.arange(3.0).reshape(3, 1, 1, 1) * ureg.K
    calls = {  # name: (pint call, plain call or None, expected units of the result)
        "rmse": (lambda: xda.metrics.rmse(t, t + 1 * ureg.K), None, "K"),
        "mae": (lambda: xda.metrics.mae(t, t + 1 * ureg.K), None, "K"),
        "crps": (lambda: xda.metrics.crps(ens, t), None, "K"),
        "spread_skill_ratio": (lambda: xda.metrics.spread_skill_ratio(ens, t + 0.5 * ureg.K), None, ""),
        "power_spectrum": (lambda: xda.power_spectrum(zq), lambda: xda.power_spectrum(z), "m**2"),
        "isotropic_power_spectrum": (lambda: xda.isotropic_power_spectrum(t), lambda: xda.isotropic_power_spectrum(plain["t"]), "K**2"),
        "spectral_slope": (lambda: xda.spectral_slope(xda.isotropic_power_spectrum(t)), None, ""),
        "gradient": (lambda: xda.gradient(t)[0], lambda: xda.gradient(plain["t"])[0], "K/m"),
        "advection": (lambda: xda.advection(t, u, v), lambda: xda.advection(*plain.values()), "K/s"),
        "advection_diffusion_residual": (lambda: xda.advection_diffusion_residual(t, u, v, kappa=1e5, time="time"),
                                         lambda: xda.advection_diffusion_residual(*plain.values(), kappa=1e5, time="time"), "K/s"),
        "coarsen": (lambda: xda.coarsen(t, 2), lambda: xda.coarsen(plain["t"], 2), "K"),
        "downscale": (lambda: xda.downscale(xda.coarsen(t.isel(time=0), 2), 2, method="lapse_rate"),
                      lambda: xda.downscale(xda.coarsen(plain["t"].isel(time=0), 2), 2, method="lapse_rate"), "K"),
        "assimilate": (lambda: xda.assimilate(zq.isel(time=0).to_dataset(), (zq.isel(time=0) + 20 * ureg.m).where(
            np.random.default_rng(0).random(z.shape[1:]) < 0.05).to_dataset(), method="oi")["z500"],
                       lambda: xda.assimilate(z.isel(time=0).to_dataset(), (z.isel(time=0) + 20).where(
                           np.random.default_rng(0).random(z.shape[1:]) < 0.05).to_dataset(), method="oi")["z500"], "m"),
    }
    for name, (call, reference, units) in calls.items():
        out = call()
        assert isinstance(out.data, pint.Quantity), name
        assert out.data.units == ureg.Unit(units) if units else out.data.dimensionless, (name, out.data.units)
        if reference is not None:
            np.testing.assert_allclose(out.data.magnitude, reference().values, rtol=1e-6, equal_nan=True, err_msg=name)


def test_cf_celsius_reads_after_a_netcdf_file_was_opened(tmp_path):
    """Opening any netCDF file lets MetPy's xarray backend install its pint registry as the application registry;
    CF's ``degrees_Celsius`` and ``Celsius`` must still read (in a fresh interpreter, where that happens)."""
    import subprocess
    import sys

    code = f"""
import xarray as xr
from xda.labeled import units as xu
xr.Dataset({{"a": ("x", [1.0])}}).to_netcdf({str(tmp_path / 'a.nc')!r})
xr.open_dataset({str(tmp_path / 'a.nc')!r}).load()
print([str(xu.parse_units(u)) for u in ("degrees_Celsius", "Celsius", "degrees_north")])
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "['degree_Celsius', 'degree_Celsius', 'degrees_north']"


def test_si_symbols_that_are_not_temperatures_get_the_advice():
    """'F' is the farad (SI, and cf-xarray's registry): a temperature in 'F' is refused with the advice to write
    'degF', naming the variable. ('C' reads as Celsius there: cf-xarray's convention for climate files.)"""
    t = xr.DataArray([50.0], dims="x", name="tasmax", attrs={"units": "F"})
    with pytest.raises(UnitsError, match=r"'tasmax' has units F .*farad \(SI\); a Fahrenheit temperature is written 'degF'"):
        xu.magnitude(t, "K", name="tasmax")
    assert xu.magnitude(t.assign_attrs(units="C"), "K", name="tasmax")[0] == pytest.approx(323.15)
