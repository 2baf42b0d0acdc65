import numpy as np
import pytest
import xarray as xr

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
