"""Block-by-block stencils on dask arrays with a one-cell face halo.

Why not ``dask.array.map_overlap``? Its graph slices every block into 26 pieces
(faces, edges, corners) and concatenates them again; the scheduler's ordering of that
graph keeps a growing share of the input in memory (measured: peak memory grew with
the length of the time axis, 1.2 GB for a 1.2 GB input of 4 MB chunks). A centred
stencil needs only the six *faces*: here each output block is one task that receives
its own blocks plus one-cell face slices of its neighbours, pads them into one array
(corners NaN, never read by a face stencil), runs the kernel and trims. The graph has
about a third of the tasks, and the data held at once stays bounded by about one slab
of blocks, whatever the length of the time axis (``benchmarks/dask_memory.py``).
"""

from __future__ import annotations

import functools

import numpy as np


def _face(block: np.ndarray, axis: int, last: bool) -> np.ndarray:
    """The one-cell face of ``block`` along ``axis`` (the last cell if ``last``)."""
    index = [slice(None)] * block.ndim
    index[axis] = slice(-1, None) if last else slice(0, 1)
    return block[tuple(index)]


def _pad(center: np.ndarray, faces: dict, pad: list[tuple[int, int]]) -> np.ndarray:
    """``center`` with its neighbours' faces around it (NaN corners)."""
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(center.shape, pad))
    out = np.full(shape, np.nan, dtype=np.result_type(center.dtype, np.float32))  # integer input: NaN corners need a float
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(center.shape, pad))
    out[inner] = center
    for (axis, side), face in faces.items():
        index = list(inner)
        index[axis] = slice(0, 1) if side < 0 else slice(-1, None)
        out[tuple(index)] = face
    return out


def neighbour(index: tuple[int, ...], axis: int, side: int, numblocks, periodic: set) -> tuple[int, ...] | None:
    """Block index of the neighbour of ``index`` on ``side`` (-1/+1) of ``axis``, or None."""
    j = index[axis] + side
    if axis in periodic:
        j %= numblocks[axis]
    elif not 0 <= j < numblocks[axis]:
        return None
    return index[:axis] + (j,) + index[axis + 1:]


def map_halo(func, arrays, *, axes, periodic=(), n_out=1, dtype=float, name="xda-halo"):
    """Apply ``func(padded_blocks, index, pad)`` to each block with a one-cell face halo.

    Parameters
    ----------
    func : callable
        ``func(blocks, index, pad) -> tuple of arrays`` of the padded block's shape;
        ``pad[axis] = (lo, hi)`` says which sides carry a halo cell (0 at the outer
        edge of a non-periodic axis).
    arrays : list of dask.array.Array
        Same shape and chunks.
    axes : iterable of int
        Axes that exchange a halo (others must be single-chunk or need no neighbours).
    periodic : iterable of int
        Axes whose first and last blocks are neighbours (longitude on a global grid).
    n_out : int
        Number of outputs; the result has a leading axis of that length.

    Returns
    -------
    dask.array.Array
        Shape ``(n_out,) + arrays[0].shape``, chunked like the inputs.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    axes, periodic = tuple(axes), {a for a in periodic if arrays[0].numblocks[a] > 1}
    numblocks, token = arrays[0].numblocks, tokenize(func, *arrays, axes, tuple(periodic), n_out)
    out_name = f"{name}-{token}"
    dsk: dict = {}
    for idx in np.ndindex(numblocks):
        sides, faces = [], []
        for axis in axes:
            for side in (-1, 1):
                nb = neighbour(idx, axis, side, numblocks, periodic)
                if nb is None:
                    continue
                sides.append((axis, side))
                for a in arrays:
                    key = (f"{name}-face-{a.name}-{axis}{side:+d}-{token}",) + idx
                    dsk[key] = (_face, (a.name,) + nb, axis, side < 0)
                    faces.append(key)
        run = functools.partial(_run_block, func, idx, len(arrays), tuple(sides))
        dsk[(out_name, 0) + idx] = (run, *[(a.name,) + idx for a in arrays], *faces)
    graph = HighLevelGraph.from_collections(out_name, dsk, dependencies=list(arrays))
    return da.Array(graph, out_name, chunks=((n_out,),) + arrays[0].chunks, dtype=dtype)


def _run_block(func, idx, n, sides, *args):
    centers = args[:n]
    faces = [{s: args[n + i * n + k] for i, s in enumerate(sides)} for k in range(n)]
    pad = [(int((axis, -1) in sides), int((axis, 1) in sides)) for axis in range(centers[0].ndim)]
    padded = [_pad(np.asarray(c), f, pad) if any(sum(p) for p in pad) else np.asarray(c) for c, f in zip(centers, faces)]
    res = func(padded, idx, pad)
    inner = tuple(slice(lo, size - hi) for size, (lo, hi) in zip(padded[0].shape, pad))
    if len(res) == 1:  # a view: no second copy of the output
        return res[0][inner][None]
    return np.stack([r[inner] for r in res])
