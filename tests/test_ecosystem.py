"""Habits of the ecosystem: show_versions, typing marker, license."""

import subprocess
import sys
from pathlib import Path

import xda


def test_show_versions_reports_the_stack_without_importing_torch():
    code = "import io, sys, xda; f = io.StringIO(); xda.show_versions(f); print(f.getvalue()); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(":", 1) for line in out.strip().splitlines()[:-1] if ":" in line)
    lines = {k.strip(): v for k, v in lines.items()}
    assert lines["xda"].strip() == xda.__version__
    assert lines["numpy"].strip()[0].isdigit() and "threads" in " ".join(lines)
    assert out.strip().splitlines()[-1] == "False"


def test_package_is_typed_and_licensed():
    root = Path(xda.__file__).parent
    assert (root / "py.typed").exists()
    license_file = root.parent / "LICENSE"
    assert not license_file.exists() or "BSD 3-Clause" in license_file.read_text()


def test_pint_in_pint_out(global_case):
    """pint-xarray's quantified arrays come back quantified (same registry), with the same numbers."""
    import numpy as np
    import pint

    ureg = pint.get_application_registry()

    def quantified(da):
        q = da.copy(data=ureg.Quantity(da.values, da.attrs["units"]))
        q.attrs = {k: v for k, v in da.attrs.items() if k != "units"}
        return q

    bg, obs, truth = global_case
    qbg = bg.assign(z500=quantified(bg["z500"]))
    keep = qbg.copy(deep=True)
    an = xda.assimilate(qbg, quantified(obs), method="oi")
    plain = xda.assimilate(bg, obs, method="oi")
    assert isinstance(an["z500"].data, pint.Quantity) and an["z500"].data.units == ureg.meter
    assert isinstance(an["z500_standard_error"].data, pint.Quantity) and "units" not in an["z500"].attrs
    np.testing.assert_allclose(an["z500"].data.magnitude, plain["z500"].values)
    assert qbg.identical(keep)  # the input is not mutated
    score = xda.metrics.rmse(an["z500"], quantified(truth))
    assert score.data.units == ureg.meter and np.isclose(score.data.magnitude, xda.metrics.rmse(plain["z500"], truth))
    t = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0, lat=slice(12, 20), lon=slice(28, 40))
    fine = quantified(t).phyda.downscale(2, method="regression")
    assert isinstance(fine.data, pint.Quantity) and fine.data.units == ureg.Quantity(1, t.attrs["units"]).units
