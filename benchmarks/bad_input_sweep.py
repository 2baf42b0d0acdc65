"""A sweep of bad input, faults and misuse against the public API: what each class gets.

    python benchmarks/bad_input_sweep.py [--out benchmarks/results/bad_input_sweep.md]

The classes are the cases of ``tests/test_bad_input.py`` and
``tests/test_bad_input_diagnostics.py`` (each with its expected outcome) and the extra
probes below, tried as a new user would (real bundled data, small slices). Each outcome
is classified:

* ``clear-error``: an ``xda.errors.XdaError`` (or a plain ValueError from the numerics
  layer, which takes plain arrays) where an error is right;
* ``correct``: a result that passes the case's check (``correct, warned`` with the
  expected warning);
* ``silent-wrong``: a result where an error is right, or one that fails its check, or a
  missing expected warning;
* ``obscure-crash``: an exception that is not an XdaError (numpy, pandas, torch, ...);
* ``refused-valid``: an error where a result is right;
* ``mutated``: an input changed by the call (checked where the case builds its inputs).

Prints a table and the counts per outcome; writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TQDM_DISABLE", "1")

import xda  # noqa: E402
from xda.errors import XdaError  # noqa: E402

import test_bad_input as A  # noqa: E402
import test_bad_input_diagnostics as D  # noqa: E402


def _params(test) -> list:
    """The pytest.param cases of a parametrized test function."""
    return list(test.pytestmark[0].args[1])


def extra_cases() -> list[tuple[str, object, object]]:
    """(id, call, expected): more probes; ``expected`` an exception class or a check of the result."""
    from xda.errors import DataError, GridError, ModelError, NotFoundError, ObservationError, UnitsError

    st, tas, bg, obs, oi, coarse = A.stations, A.tas_bg, A.bg, A.obs, A.oi, A.coarse
    z = lambda: xda.datasets.open_dataset("ncep_z500_global")["z500"]  # noqa: E731
    storm = lambda: xda.datasets.open_dataset("storm1996_t")["t"]  # noqa: E731
    finite = lambda r: bool(np.isfinite(r).all())  # noqa: E731
    analysed = lambda n: (lambda r: r[list(r.data_vars)[0]].attrs["xda_n_obs"] == n)  # noqa: E731
    return [
        ("obs-error-negative", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=-1), ObservationError),
        ("obs-error-zero", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=0), ObservationError),
        ("obs-error-nan", lambda: xda.assimilate(tas(), st(), method="oi", obs_error=float("nan")), ObservationError),
        ("obs-error-wrong-units", lambda: xda.assimilate(tas(), st(), method="oi", obs_error="1 m"), UnitsError),
        ("obs-error-degF-string", lambda: xda.assimilate(tas(), st(), method="oi", obs_error="1.8 degF"), analysed(40)),
        ("variables-typo", lambda: xda.assimilate(tas(), st(), variables={"tas": "tass"}), ModelError),
        ("window-negative", lambda: xda.assimilate(tas(), st(), method="oi", window="-1h"), ObservationError),
        ("window-text", lambda: xda.assimilate(tas(), st(), method="oi", window="abc"), ObservationError),
        ("window-zero", lambda: xda.assimilate(tas(), st(), method="oi", window=0), ObservationError),
        ("background-int", lambda: oi(bg().astype(int)), lambda r: finite(r["z500"])),
        ("background-float16", lambda: oi(bg().astype(np.float16)), lambda r: finite(r["z500"])),
        ("background-dask", lambda: oi(bg().chunk()), lambda r: finite(r["z500"])),
        ("obs-lon-minus-180", lambda: xda.assimilate(tas(), st().assign_coords(lon=st().lon - 360), method="oi"), analysed(40)),
        ("obs-all-outside-grid", lambda: xda.assimilate(tas(), st().assign_coords(lat=st().lat - 80), method="oi"), ObservationError),
        ("obs-empty", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 0)), method="oi"), ObservationError),
        ("obs-one", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 1)), method="oi"), analysed(1)),
        ("obs-two-learned", lambda: xda.assimilate(tas(), st().isel(obs=slice(0, 2))), analysed(2)),
        ("obs-inf-one", lambda: xda.assimilate(tas(), st().assign(tas=st().tas.where(st().obs != 3, np.inf)), method="oi"), analysed(39)),
        ("obs-lat-95", lambda: xda.assimilate(tas(), st().assign_coords(lat=st().lat.where(st().obs != 3, 95.0)), method="oi"), analysed(39)),
        ("obs-error-column-nan", lambda: xda.assimilate(tas(), st().assign(tas_error=("obs", np.r_[np.nan, np.ones(39)])), method="oi"), ObservationError),
        ("obs-boolean", lambda: xda.assimilate(tas(), st().assign(tas=st().tas > 280), method="oi"), ObservationError),
        ("table-numbers-as-text", lambda: xda.assimilate(tas(), A._table(tas=[str(v) for v in st().tas.values]), method="oi"), analysed(40)),
        ("qc-true", lambda: oi(qc=True), XdaError),
        ("members-true", lambda: xda.assimilate(bg(), obs(), members=True), XdaError),
        ("members-numpy-int", lambda: xda.assimilate(bg(), obs(), members=np.int64(2), steps=2), lambda r: r.sizes["member"] == 2),
        ("background-time-dim-obs-untimed", lambda: xda.assimilate(tas().expand_dims(time=pd.to_datetime(["2005-03-16", "2005-03-17"])), st(), method="oi"),
         lambda r: r.sizes["time"] == 2),
        ("noleap-window", lambda: xda.assimilate(tas().assign_coords(time=__import__("cftime").DatetimeNoLeap(2005, 3, 1)),
                                                 st().assign_coords(time=("obs", [__import__("cftime").DatetimeNoLeap(2005, 2, 28, 23)] * 40)), method="oi"), analysed(40)),
        ("tz-aware-obs-times", lambda: xda.assimilate(tas().assign_coords(time=np.datetime64("2005-03-16T12:00")),
                                                      st().assign_coords(time=("obs", pd.date_range("2005-03-16T12:00", periods=40, freq="1min", tz="UTC").to_pydatetime())),
                                                      method="oi"), analysed(40)),
        ("obs-other-time", lambda: z().isel(time=0).phyda.assimilate(z().isel(time=1).where(np.random.default_rng(0).random((73, 144)) < .05), method="oi"),
         ObservationError),
        ("storm-laplacian-nan-corners", lambda: xda.laplacian(storm().isel(time=0)), lambda r: np.isfinite(r).sum() > 0.5 * r.size),
        ("zonal-spectrum-nan-row", lambda: xda.power_spectrum(z().isel(time=0).where(z().lat != 0)), lambda r: np.isfinite(r).sum() == 72 * r.sizes["freq_lon"] if "freq_lon" in r.dims else True),
        ("rmse-units-dam", lambda: xda.metrics.rmse(z().isel(time=0), (z().isel(time=0) / 10).assign_attrs(units="dam")), lambda r: float(r) < 1e-2),  # float32 rounding
        ("scorecard-no-common-variable", lambda: xda.metrics.scorecard(z().isel(time=0).to_dataset(name="a"), z().isel(time=1).to_dataset(name="b")), NotFoundError),
        ("effective-diffusivity-one-time", lambda: xda.effective_diffusivity(storm().isel(time=[0]), storm().isel(time=[0]) * 0 + 5, storm().isel(time=[0]) * 0), GridError),
        ("residual-winds-without-units", lambda: xda.advection_diffusion_residual(storm(), storm().drop_attrs() * 0, storm().drop_attrs() * 0), UnitsError),
        ("load-model-unknown", lambda: xda.load_model("nope"), ModelError),
        ("load-model-directory", lambda: xda.load_model(str(ROOT / "xda")), ModelError),
        ("open-dataset-unknown", lambda: xda.datasets.open_dataset("nope"), NotFoundError),
        ("downscale-a-height", lambda: z().isel(time=0).phyda.downscale(4), UnitsError),
        ("from-pairs-one-sample", lambda: xda.BackgroundError.from_pairs(z().isel(time=[0]), z().isel(time=[0])), DataError),
        ("from-pairs-units", lambda: xda.BackgroundError.from_pairs(z().isel(time=slice(0, 3)), z().isel(time=slice(0, 3)).assign_attrs(units="K")), UnitsError),
        ("downscale-time-batch-members", lambda: xda.downscale(coarse().expand_dims(time=2).copy(), 4, members=2, steps=2, seed=0),
         lambda r: r.sizes["member"] == 2 and r.sizes["time"] == 2),
        ("downscale-winds-nan", lambda: xda.downscale(xr.Dataset({"tas": coarse(), "uas": (coarse() * 0 + 3).assign_attrs(units="m/s", standard_name="eastward_wind").where(coarse().lat < 30),
                                                                  "vas": (coarse() * 0).assign_attrs(units="m/s", standard_name="northward_wind")}), 4, method="regression"), DataError),
        ("downscale-like-outside", lambda: xda.downscale(coarse(), like=xr.DataArray(np.zeros((5, 5)), coords={"lat": np.linspace(-10, 0, 5), "lon": np.linspace(0, 10, 5)},
                                                                                     dims=("lat", "lon"))), GridError),
        ("downscale-lapse-rate-factor-5", lambda: xda.downscale(coarse(), 5, method="lapse_rate"), lambda r: r.shape == (20, 40)),
        ("downscale-one-wind-dataarray", lambda: xda.downscale(coarse(), 4, u=coarse() * 0), NotFoundError),
        ("downscale-variable-typo", lambda: xda.downscale(coarse().to_dataset(name="tas"), 4, variable="tass"), NotFoundError),
        ("downscale-degF", lambda: xda.downscale((coarse() * 1.8 - 459.67).assign_attrs(units="degF"), 4, method="bicubic"),
         lambda r: float(abs(xda.coarsen((r + 459.67) / 1.8, 4) - coarse()).max()) < 1e-3),
        ("downscale-lapse-rate-nan", lambda: xda.downscale(coarse(), 4, method="lapse_rate", lapse_rate=float("nan")), XdaError),
        ("coarsen-dataset-with-bounds", lambda: xda.coarsen(xda.datasets.open_dataset("esm_tas").isel(time=0), 2), lambda r: r["tas"].shape == (48, 96)),
    ]


def _outcome(expected, call, inputs=None) -> tuple[str, str]:
    """Run ``call`` (on ``inputs`` if given) and classify against ``expected`` (an exception class, a
    ("warn", class, pattern) triple, or a check of the result)."""
    import re

    before = copy.deepcopy(inputs) if inputs is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(*inputs) if inputs is not None else call()
        except Exception as e:  # noqa: BLE001 - classifying every failure is the point
            msg = " ".join(str(e).split())[:110]
            ok_error = isinstance(e, XdaError) or (expected is ValueError and type(e) is ValueError)
            if isinstance(expected, type) and issubclass(expected, BaseException):
                return ("clear-error" if ok_error else "obscure-crash"), f"{type(e).__name__}: {msg}"
            return ("refused-valid" if ok_error else "obscure-crash"), f"{type(e).__name__}: {msg}"
    if inputs is not None:
        for a, b in zip(inputs, before):
            try:
                xr.testing.assert_identical(a, b)
            except AssertionError:
                return "mutated", "an input changed"
    if isinstance(expected, type) and issubclass(expected, BaseException):
        return "silent-wrong", f"returned {type(result).__name__} where {expected.__name__} is right"
    if isinstance(expected, tuple):
        _, cls, pattern = expected
        hit = [w for w in caught if issubclass(w.category, cls) and re.search(pattern, str(w.message))]
        return ("correct, warned", str(hit[0].message)[:110]) if hit else ("silent-wrong", "expected warning missing")
    try:
        ok = expected(result, *inputs) if inputs is not None else expected(result)
    except Exception as e:  # noqa: BLE001
        ok, note = False, f"check failed: {type(e).__name__}: {e}"
    else:
        note = "; ".join(sorted({str(w.message)[:60] for w in caught}))[:110]
    return ("correct" if ok else "silent-wrong"), note


def all_cases():
    """(source, id, call, expected, inputs) for every class."""
    for source, mod in (("tests/test_bad_input.py", A), ("tests/test_bad_input_diagnostics.py", D)):
        for p in _params(mod.test_refused):
            yield source, p.id, p.values[0], p.values[1], None
        for p in _params(mod.test_warned):
            yield source, p.id, p.values[0], ("warn", p.values[1], p.values[2]), None
        for p in _params(mod.test_right_result_and_inputs_unchanged):
            check = p.values[2] if mod is A else (lambda r, *_, c=p.values[2]: c(r))  # D's checks take the result alone
            yield source, p.id, p.values[1], check, p.values[0]
    for p in _params(D.test_numerics_refuse_with_plain_value_error):
        yield "tests/test_bad_input_diagnostics.py", p.id, p.values[0], ValueError, None
    for cid, call, expected in extra_cases():
        yield "sweep", cid, call, expected, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bad_input_sweep.md"))
    args = ap.parse_args()
    rows, t0 = [], time.perf_counter()
    for source, cid, call, expected, inputs in all_cases():
        if cid == "absent-gpu" and __import__("torch").cuda.is_available():
            continue
        args_ = inputs() if inputs is not None else None
        outcome, note = _outcome(expected, call, args_)
        rows.append((source, cid, outcome, note.replace("|", "/")))
        print(f"{outcome:16s} {cid:45s} {note[:80]}", flush=True)
    counts = pd.Series([r[2] for r in rows]).value_counts()
    lines = [f"# Bad-input sweep (benchmarks/bad_input_sweep.py): {len(rows)} classes in {time.perf_counter() - t0:.0f} s", "",
             "| outcome | classes |", "|---|---|", *[f"| {k} | {v} |" for k, v in counts.items()], "",
             "| source | case | outcome | message or note |", "|---|---|---|---|",
             *[f"| {s} | {c} | {o} | {n} |" for s, c, o, n in rows]]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(counts.to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
