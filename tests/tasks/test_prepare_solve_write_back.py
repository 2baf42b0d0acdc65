"""The tasks touch labeled data only before the solve and after it: a call trace shows it.

Following ``obs`` through ``assimilate`` and ``coarse`` through ``downscale``, every Python
call is recorded (``sys.setprofile``) with the stage it ran in: *prepare* (before the method
of ``METHODS`` is called), *solve* (inside it) and *write back* (after it). Labeled code is
xarray, pandas, pint and cf-xarray, and the functions of :mod:`xda.labeled`, except the
members of its two plain-array containers (:class:`~xda.labeled.grid.Grid` and
:class:`~xda.labeled.observations.PointObservations`), which a solver reads as arrays.
"""

import importlib
import os
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import xda
from xda.tasks import analysis

downscale = importlib.import_module("xda.tasks.downscale")  # the module, not the function of that name

LABELED_PACKAGES = tuple(os.sep + p + os.sep for p in ("xarray", "pandas", "pint", "cf_xarray"))
LABELED_XDA = os.sep + os.path.join("xda", "labeled") + os.sep
#: Members of the plain-array containers of xda.labeled that a solver may read.
CONTAINERS = ("Grid.", "PointObservations.")


def _labeled(code) -> bool:
    f = code.co_filename
    if any(p in f for p in LABELED_PACKAGES):
        return True
    return LABELED_XDA in f and not code.co_qualname.startswith(CONTAINERS)


class Trace:
    """Labeled calls per stage while a task runs; ``wrap`` marks a method of ``METHODS`` as the solve."""

    def __init__(self):
        self.stage, self.calls = "prepare", {"prepare": [], "solve": [], "write back": []}

    def wrap(self, solve):
        def traced(*args, **kwargs):
            self.stage = "solve"
            try:
                return solve(*args, **kwargs)
            finally:
                self.stage = "write back"
        return traced

    def __call__(self, frame, event, arg):
        if event == "call" and _labeled(frame.f_code):
            where = "/".join(frame.f_code.co_filename.split(os.sep)[-3:])
            self.calls[self.stage].append(f"{where}: {frame.f_code.co_qualname}")

    def run(self, fn, *args, **kwargs):
        sys.setprofile(self)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.setprofile(None)


def _traced(monkeypatch, methods: dict, fn, *args, **kwargs) -> Trace:
    trace = Trace()
    for key, solve in list(methods.items()):
        monkeypatch.setitem(methods, key, trace.wrap(solve))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace.run(fn, *args, **kwargs)
    return trace


def _case(z500):
    truth = z500["z500"].isel(time=0, drop=True)
    bg = z500["z500"].isel(time=slice(1, 13)).mean("time").assign_attrs(truth.attrs).to_dataset(name="z500")
    mask = np.random.default_rng(0).random(truth.shape) < 0.03
    return bg.isel(lat=slice(None, None, -1)), truth.where(mask).rename("z500").isel(lat=slice(None, None, -1))


@pytest.mark.parametrize("method", ["oi", "xda"])
def test_assimilate_touches_labeled_data_only_before_and_after_the_solve(z500, monkeypatch, method):
    bg, obs = _case(z500)  # latitudes descending: the edge flips them once each way
    trace = _traced(monkeypatch, analysis.METHODS, xda.assimilate, bg, obs, method=method, seed=0, steps=2,
                    obs_space=True)
    assert trace.calls["solve"] == [], trace.calls["solve"][:10]
    assert trace.calls["prepare"] and trace.calls["write back"]


def test_joint_assimilate_touches_labeled_data_only_before_and_after_the_solve(monkeypatch):
    from joint_cases import joint_state

    truth, bg, obs, _ = joint_state()
    trace = _traced(monkeypatch, analysis.METHODS, xda.assimilate, bg, obs, model="hs-t42-mv-v1", seed=0, steps=2)
    assert trace.calls["solve"] == [], trace.calls["solve"][:10]
    assert trace.calls["prepare"] and trace.calls["write back"]


@pytest.mark.parametrize("method, extra", [("xda", {}), ("xda", {"lapse_rate": "-6.5 K/km", "members": 2}),
                                           ("regression", {}), ("lapse_rate", {"lapse_rate": -5.0}), ("bicubic", {})])
def test_downscale_touches_labeled_data_only_before_and_after_the_solve(monkeypatch, method, extra):
    tas = xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0)
    coarse = xda.coarsen(tas, 2).isel(lat=slice(None, None, -1))
    trace = _traced(monkeypatch, downscale.METHODS, xda.downscale, coarse, 2, method=method, seed=0, steps=2, **extra)
    assert trace.calls["solve"] == [], trace.calls["solve"][:10]
    assert trace.calls["prepare"] and trace.calls["write back"]


def test_the_trace_catches_labeled_code_in_the_solve(z500, monkeypatch):
    """A solver that reads a DataArray is caught (the test can fail)."""
    bg, obs = _case(z500)
    oi = analysis.METHODS["oi"]

    def leaky(problem_sets, req):
        xr.DataArray(np.zeros(3)).mean()
        return oi(problem_sets, req)

    monkeypatch.setitem(analysis.METHODS, "oi", leaky)
    trace = _traced(monkeypatch, analysis.METHODS, xda.assimilate, bg, obs, method="oi")
    assert any("xarray" in c for c in trace.calls["solve"])
