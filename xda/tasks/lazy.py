"""Dask-backed inputs: one task per chunk along a non-spatial dimension, assembled into a lazy result.

``assimilate`` and ``downscale`` on an input backed by dask (``ds.chunk(time=...)``,
``xr.open_mfdataset``) return a dask-backed result with the input's chunks along that
dimension: each chunk is one task that runs the eager function on its block (in a worker
process on a ``dask.distributed`` cluster, where the model is loaded once per process and
stays cached, :mod:`xda.models.registry`). At call time only the first element is computed
eagerly, for the result's layout (variables, coordinates, units).

What a chunk sees:

* ``assimilate`` analyses each time on its own, so the lazy result equals the eager one
  whatever the chunks. Observations are split before the graph is built: a table with a
  ``time`` column or coordinate, or gridded observations with a time dimension, give each
  task only the reports within its times' windows (not a copy of the whole table).
  Observations without times, or ``window=None``, go to every task.
* ``downscale`` verifies its learned correction on each call's batch, so a chunk is
  verified on its own fields (the eager call on that block); the result equals the eager
  calls on the blocks concatenated.

Attributes measured per analysis (verified weights, counts, the tuned B, timings) differ
between tasks and are not kept; the attributes that describe the call are, and
``xda_lazy`` says how the result was computed.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import xarray as xr

from ..labeled import times

#: Attributes that describe the call (the same for every chunk) and are kept on a lazy result.
CALL_ATTRS = ("xda_method", "xda_model", "xda_version", "xda_factor", "xda_orography", "xda_relief", "xda_winds",
              "xda_members_recentred", "xda_members", "units", "standard_name", "long_name", "ancillary_variables", "cell_methods")


def is_lazy(obj) -> bool:
    """Whether any variable of ``obj`` (DataArray or Dataset) is backed by dask."""
    variables = [obj] if isinstance(obj, xr.DataArray) else list(obj.data_vars.values())
    return any(v.chunks is not None for v in variables)


def chunk_dim(obj, spatial: tuple) -> str | None:
    """The dimension to split ``obj`` along: the first non-spatial one cut into several chunks, else the first
    non-spatial one; None for a single field."""
    extra = [d for d in obj.dims if d not in spatial]
    cut = [d for d in extra if len(obj.chunksizes.get(d, ())) > 1]
    return (cut or extra or [None])[0]


def blockwise(obj, dim: str, run: Callable, split: Callable | None = None):
    """``run(block, *split(lo, hi))`` on each chunk ``[lo, hi)`` of ``obj`` along ``dim``, as one dask-backed result.

    Parameters
    ----------
    obj : DataArray or Dataset
        Dask-backed; other dimensions are rechunked whole (each task needs whole fields).
    dim : str
    run : callable
        The eager function of one block (e.g. ``assimilate`` with the call's options).
    split : callable, optional
        ``(lo, hi) -> tuple`` of the arguments that belong to that block only (its observations).

    Returns
    -------
    Like ``run``'s result, its variables with ``dim`` dask-backed (one task per chunk).
    """
    import dask

    obj = obj.chunk({d: -1 for d in obj.dims if d != dim})
    edges = np.concatenate([[0], np.cumsum(obj.chunksizes[dim])]).astype(int)
    args = split or (lambda lo, hi: ())
    template = run(obj.isel({dim: slice(0, 1)}).compute(), *args(0, 1))
    parts = [dask.delayed(_run_block, pure=True)(run, obj.isel({dim: slice(lo, hi)}), args(lo, hi))
             for lo, hi in zip(edges[:-1], edges[1:])]
    return _assemble(template, parts, np.diff(edges), dim, obj[dim], dask.delayed)


def _run_block(run, block, args):
    """One task: the eager result of one block, as a Dataset (a DataArray's coordinates kept)."""
    return _as_dataset(run(block, *args))


def _as_dataset(res) -> xr.Dataset:
    return res.to_dataset(name=res.name if res.name is not None else "__xda__") if isinstance(res, xr.DataArray) else res


def _assemble(template, parts: list, sizes: np.ndarray, dim: str, index: xr.DataArray, delayed):
    """The template's structure along the whole of ``dim``, every variable with ``dim`` a concatenation of the
    tasks' pieces (the template's own values are not repeated)."""
    import dask.array as da

    ds = _as_dataset(template)
    out = {}
    for name, var in ds.variables.items():
        if dim not in var.dims or name == dim:
            continue
        axis = var.dims.index(dim)
        pieces = [da.from_delayed(delayed(_piece, pure=True)(p, name, var.dims, dim), shape=_shape(var.shape, axis, int(n)),
                                  dtype=var.dtype) for p, n in zip(parts, sizes)]
        out[name] = xr.Variable(var.dims, da.concatenate(pieces, axis=axis), _call_attrs(var.attrs), var.encoding)
    lazy = ds.drop_vars([n for n, v in ds.variables.items() if dim in v.dims]).assign_coords({dim: index})
    lazy = lazy.assign({n: v for n, v in out.items() if n in ds.data_vars})
    lazy = lazy.assign_coords({n: v for n, v in out.items() if n in ds.coords})
    lazy.attrs = _call_attrs(ds.attrs)
    note = f"computed lazily, one dask task per chunk along {dim!r} ({len(parts)} tasks); see xda.tasks.lazy"
    for v in (lazy, *lazy.data_vars.values()):
        v.attrs["xda_lazy"] = note
    if isinstance(template, xr.DataArray):
        return lazy[template.name if template.name is not None else "__xda__"].rename(template.name)
    return lazy


def block_seed(seed: int | None, start: int) -> int | None:
    """The seed of the block starting at index ``start``: its own stream, the same whatever the other chunks."""
    return None if seed is None else int(np.random.SeedSequence([int(seed), int(start)]).generate_state(1)[0])


def _piece(ds: xr.Dataset, name: str, dims: tuple, dim: str) -> np.ndarray:
    """The values of ``name`` in one task's result, laid out as ``dims`` (a one-element block may lack ``dim``)."""
    v = ds.variables[name]
    return np.asarray((v if dim in v.dims else v.set_dims((dim, *v.dims))).transpose(*dims).values)


def _shape(shape: tuple, axis: int, n: int) -> tuple:
    return tuple(n if i == axis else s for i, s in enumerate(shape))


def _call_attrs(attrs: dict) -> dict:
    """The attributes that describe the call (:data:`CALL_ATTRS`, and every non-xda one but ``history``)."""
    return {k: v for k, v in attrs.items() if k in CALL_ATTRS or not (k.startswith("xda_") or k == "history")}


def observations_for(obs, t0: np.datetime64, t1: np.datetime64, window) -> object:
    """The part of ``obs`` that can fall in the windows of background times ``t0..t1``: rows (or times) within
    ``[t0 - window, t1 + window]`` of a table with a ``time`` column or coordinate, or of gridded
    observations with a ``time`` dimension; all of ``obs`` where it has no times or ``window`` is None."""
    w = times.as_window(window)
    if w is None:
        return obs
    lo, hi = t0 - w.to_timedelta64(), t1 + w.to_timedelta64()
    try:
        if hasattr(obs, "columns"):  # a pandas table
            if "time" not in obs.columns:
                return obs
            t = times.to_datetime64(obs["time"].to_numpy())
            return obs[(t >= lo) & (t <= hi)]
        if isinstance(obs, (xr.DataArray, xr.Dataset)) and "time" in obs.coords and obs["time"].ndim == 1:
            t = times.to_datetime64(obs["time"].values, dict(obs["time"].attrs))
            return obs.isel({obs["time"].dims[0]: np.flatnonzero((t >= lo) & (t <= hi))})
    except (TypeError, ValueError):  # times xda cannot compare: every task takes all of them
        return obs
    return obs
