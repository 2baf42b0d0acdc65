"""``xda.show_versions()``: what a bug report needs (xarray's habit)."""

from __future__ import annotations

import importlib
import platform
import sys

#: Packages xda depends on or works with, reported by :func:`show_versions`.
PACKAGES = ("xda", "numpy", "scipy", "xarray", "pint", "cf_xarray", "numba", "torch", "safetensors", "dask",
            "pandas", "netCDF4", "h5netcdf", "matplotlib", "jax", "dinosaur", "hypothesis")


def versions() -> dict:
    """Python, platform, threads and the version of each package in :data:`PACKAGES` (None: not installed).

    Importing torch is avoided when it is not loaded yet: its version is read from the
    installed distribution's metadata instead.
    """
    from importlib import metadata

    from .numerics import threads

    out = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}
    for name in PACKAGES:
        mod = sys.modules.get(name)
        try:
            out[name] = getattr(mod, "__version__", None) if mod else metadata.version(
                {"cf_xarray": "cf-xarray"}.get(name, name))
        except metadata.PackageNotFoundError:
            try:  # a module without distribution metadata (an editable checkout)
                out[name] = getattr(importlib.import_module(name), "__version__", "installed") if name == "xda" else None
            except ImportError:
                out[name] = None
    out["threads"] = threads.describe()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        out["cuda"] = torch.version.cuda if torch.cuda.is_available() else "not available"
    return out


def show_versions(file=None) -> None:
    """Print :func:`versions` as ``name: version`` lines (to ``file``, default stdout).

    Examples
    --------
    >>> import xda
    >>> xda.show_versions()  # doctest: +SKIP
    """
    for k, v in versions().items():
        print(f"{k:>12}: {v if v is not None else '-'}", file=file or sys.stdout)
