"""Held-Suarez OSSE data: truth trajectories and realistic 24 h forecast backgrounds.

This module needs the optional ``simulate`` extra (``jax`` and ``dinosaur``); nothing
else in xda imports it. Run it as a script::

    python -m xda.simulate --out ~/.cache/xda/hs_t42.nc --days 200 --seed 0

What it does
------------
1. Spins up the Held & Suarez (1994) dry primitive-equation benchmark with Google's
   ``dinosaur`` spectral dynamical core (T42, 12 equidistant sigma levels, no
   orography) from an isothermal rest state with small random noise.
2. Integrates a *truth* trajectory and keeps the state every ``--interval`` hours.
3. For every kept time ``t`` (after the first day) it builds a *background*: the truth
   at ``t - 24 h`` is perturbed by ``alpha * (x(t1) - x(t2))``, the scaled difference
   of two random truth states from the same data split (a balanced, climatologically
   structured "NMC-like" perturbation; never white noise), and integrated 24 h forward
   with the same model. The background error therefore has the spatial structure and
   flow dependence of a real short-range forecast error.
4. Writes ``z500`` (500 hPa geopotential height, m) and ``tas`` (air temperature on
   the lowest model level, sigma = 0.958, K) for truth and background on the 64 x 128
   Gaussian grid, with a ``split`` label per time (train / validation / test, disjoint
   in time, separated by 5-day gaps).

References
----------
Held, I. M. and Suarez, M. J. (1994): A proposal for the intercomparison of the
dynamical cores of atmospheric general circulation models. BAMS 75, 1825-1830.
"""

from __future__ import annotations

import argparse
import time as _time
from pathlib import Path

import numpy as np

SPLITS = {"train": 0.70, "validation": 0.10, "test": 0.20}
GAP_DAYS = 5


def _build_model(layers: int = 12, dt_minutes: float = 20.0):
    import jax
    from dinosaur import (
        coordinate_systems,
        held_suarez,
        primitive_equations,
        primitive_equations_states,
        scales,
        sigma_coordinates,
        spherical_harmonic,
        time_integration,
        xarray_utils,
    )

    units = scales.units
    coords = coordinate_systems.CoordinateSystem(
        horizontal=spherical_harmonic.Grid.T42(),
        vertical=sigma_coordinates.SigmaCoordinates.equidistant(layers),
    )
    specs = primitive_equations.PrimitiveEquationsSpecs.from_si()
    init_fn, aux = primitive_equations_states.isothermal_rest_atmosphere(
        coords, specs, p0=1e5 * units.pascal, p1=5e3 * units.pascal
    )
    ref_temps = aux[xarray_utils.REF_TEMP_KEY]
    orography = primitive_equations.truncated_modal_orography(
        aux[xarray_utils.OROGRAPHY], coords
    )
    eq = primitive_equations.PrimitiveEquations(ref_temps, orography, coords, specs)
    hs = held_suarez.HeldSuarezForcing(coords, specs, ref_temps)
    forcing = time_integration.ExplicitODE.from_functions(hs.explicit_terms)
    full = time_integration.compose_equations([eq, forcing])
    dt = specs.nondimensionalize(dt_minutes * units.minute)
    step = time_integration.imex_rk_sil3(full, dt)
    step = time_integration.step_with_filters(
        step, [time_integration.exponential_step_filter(coords.horizontal, dt)]
    )
    steps_per_hour = int(round(60 / dt_minutes))

    def advance(hours):
        return jax.jit(time_integration.repeated(step, hours * steps_per_hour))

    def diagnostics(state):
        """(z500 [m], tas [K]) on the nodal grid for one modal state."""
        import jax.numpy as jnp
        from dinosaur import vertical_interpolation

        grid = coords.horizontal
        temperature = grid.to_nodal(state.temperature_variation) + ref_temps[:, None, None]
        ps = jnp.exp(grid.to_nodal(state.log_surface_pressure))  # (1, lon, lat), nondim
        phi = primitive_equations.get_geopotential_on_sigma(
            temperature,
            nodal_orography=grid.to_nodal(orography),
            sigma=coords.vertical,
            gravity_acceleration=specs.gravity_acceleration,
            ideal_gas_constant=specs.ideal_gas_constant,
        )
        p500 = specs.nondimensionalize(5e4 * units.pascal)
        levels = vertical_interpolation.PressureCoordinates(np.array([p500]))
        phi500 = vertical_interpolation.interp_sigma_to_pressure(
            phi, levels, coords.vertical, ps
        )[0]
        g = specs.gravity_acceleration
        z500 = specs.dimensionalize(phi500 / g, units.meter).magnitude
        tas = specs.dimensionalize(temperature[-1], units.degK).magnitude
        return z500, tas

    return dict(
        coords=coords,
        specs=specs,
        init_fn=init_fn,
        advance=advance,
        diagnostics=jax.jit(diagnostics),
    )


def _split_labels(n: int, per_day: int) -> np.ndarray:
    """train / validation / test blocks in time order, with GAP_DAYS of 'gap' between."""
    labels = np.empty(n, dtype=object)
    gap = GAP_DAYS * per_day
    usable = n - 2 * gap
    edges = np.cumsum([0] + [int(round(f * usable)) for f in SPLITS.values()])
    edges[-1] = usable
    start = 0
    for k, name in enumerate(SPLITS):
        size = edges[k + 1] - edges[k]
        labels[start : start + size] = name
        start += size
        if k < len(SPLITS) - 1:
            labels[start : start + gap] = "gap"
            start += gap
    return labels


def simulate(
    out: Path,
    days: int = 200,
    spinup_days: int = 120,
    interval_hours: int = 12,
    alpha: float = 0.2,
    seed: int = 0,
    batch: int = 8,
) -> Path:
    """Run the Held-Suarez OSSE simulation and write it to ``out`` (netCDF)."""
    import jax
    import xarray as xr

    m = _build_model()
    coords = m["coords"]
    rng = np.random.default_rng(seed)
    t0 = _time.perf_counter()
    state = m["init_fn"](rng_key=jax.random.PRNGKey(seed))
    spin = m["advance"](24 * 10)
    for _ in range(spinup_days // 10):
        state = spin(state)
    print(f"spin-up {spinup_days} d: {_time.perf_counter() - t0:.0f} s", flush=True)

    per_day = 24 // interval_hours
    n = days * per_day
    step = m["advance"](interval_hours)
    states = []
    for _ in range(n):
        state = step(state)
        states.append(jax.device_get(state))
    print(f"truth {days} d: {_time.perf_counter() - t0:.0f} s", flush=True)

    labels = _split_labels(n, per_day)
    stack = lambda xs: jax.tree.map(lambda *a: np.stack(a), *xs)  # noqa: E731
    diag = jax.jit(jax.vmap(m["diagnostics"]))
    forecast = jax.jit(jax.vmap(m["advance"](24)))

    # backgrounds: 24 h forecasts from perturbed truth states, for times >= 1 day
    lead = per_day
    targets = np.arange(lead, n)
    starts = []
    for t in targets:
        same = np.flatnonzero(labels == labels[t])
        i, j = rng.choice(same, size=2, replace=False)
        x0, xi, xj = states[t - lead], states[i], states[j]
        starts.append(jax.tree.map(lambda a, b, c: a + alpha * (b - c), x0, xi, xj))
    bg = []
    for k in range(0, len(starts), batch):
        fc = forecast(stack(starts[k : k + batch]))
        bg.append(jax.device_get(diag(fc)))
        if k % (10 * batch) == 0:
            print(f"forecast {k}/{len(starts)}: {_time.perf_counter() - t0:.0f} s", flush=True)
    bz = np.concatenate([b[0] for b in bg])
    bt = np.concatenate([b[1] for b in bg])
    tz, tt = jax.device_get(diag(stack([states[t] for t in targets])))

    lon = np.degrees(coords.horizontal.longitudes)
    lat = np.degrees(coords.horizontal.latitudes)
    hours = (targets + 1) * interval_hours
    # dinosaur's nodal arrays are (lon, lat); store (time, lat, lon) with lat ascending
    tr = lambda a: np.asarray(a, np.float32).transpose(0, 2, 1)  # noqa: E731
    ds = xr.Dataset(
        {
            "z500_truth": (("time", "lat", "lon"), tr(tz)),
            "tas_truth": (("time", "lat", "lon"), tr(tt)),
            "z500_background": (("time", "lat", "lon"), tr(bz)),
            "tas_background": (("time", "lat", "lon"), tr(bt)),
            "split": ("time", labels[targets].astype(str)),
        },
        coords={
            "time": ("time", hours.astype(np.float64), {"units": "hours since 0001-01-01", "calendar": "360_day"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "title": "Held-Suarez OSSE: truth and 24 h forecast backgrounds (xda.simulate)",
            "model": "dinosaur primitive equations, T42 L12 sigma, dt 20 min, Held & Suarez (1994) forcing",
            "spinup_days": spinup_days,
            "seed": seed,
            "background": f"24 h forecast from truth(t-24h) + {alpha} * (x(t1) - x(t2)), t1,t2 random in the same split",
        },
    )
    for v, (sn, u, ln) in {
        "z500": ("geopotential_height", "m", "500 hPa geopotential height"),
        "tas": ("air_temperature", "K", "air temperature on the lowest model level (sigma=0.958)"),
    }.items():
        for kind in ("truth", "background"):
            ds[f"{v}_{kind}"].attrs.update(standard_name=sn, units=u, long_name=f"{ln} ({kind})")
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    print(f"wrote {out} ({len(targets)} times): {_time.perf_counter() - t0:.0f} s", flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="~/.cache/xda/hs_t42.nc")
    p.add_argument("--days", type=int, default=200)
    p.add_argument("--spinup-days", type=int, default=120)
    p.add_argument("--interval-hours", type=int, default=12)
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    simulate(a.out, a.days, a.spinup_days, a.interval_hours, a.alpha, a.seed)


if __name__ == "__main__":
    main()
