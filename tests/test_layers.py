"""The package's layers: each imports only from the layers below it (walked with ast).

numerics < labeled < public diagnostics/spectra/metrics/datasets/static, the classical DA core (assimilation) < models
< tasks | training | simulate (siblings, never importing each other) < accessor, cli, ``xda``.
``errors`` and ``_version`` sit below everything. Also: ``import xda`` and every
diagnostic, spectrum and metric run without importing torch.
"""

import ast
import pathlib
import subprocess
import sys


import xda

ROOT = pathlib.Path(xda.__file__).resolve().parent

RANK = {
    "xda._version": 0, "xda.errors": 0,
    "xda.numerics": 1,
    "xda.labeled": 2,
    "xda.diagnostics": 3, "xda.spectra": 3, "xda.metrics": 3, "xda.datasets": 3, "xda.static": 3,
    "xda.assimilation": 3,
    "xda.models": 4,
    "xda.tasks": 5, "xda.training": 5, "xda.simulate": 5,
    "xda.accessor": 6, "xda.cli": 6, "xda._versions": 6, "xda.plot": 6,
    "xda": 7,  # the package __init__: the public names
    "xda.training.__main__": 7, "xda.simulate.__main__": 7,  # entry points: the command line's parser
}


def _group(module: str) -> str:
    """The layer entry a module belongs to (longest matching prefix)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in RANK and (key != "xda" or module == "xda"):
            return key
    raise KeyError(module)


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _entry_point(node) -> bool:
    """Whether ``node`` is an ``if __name__ == "__main__":`` block (the command line: the top layer)."""
    t = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(t, ast.Compare) and isinstance(t.left, ast.Name)
            and t.left.id == "__name__" and any(getattr(c, "value", None) == "__main__" for c in t.comparators))


def _walk(tree):
    """``ast.walk`` without the entry-point blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not _entry_point(c))


def _imports(path: pathlib.Path):
    """(line, imported module) for every xda import in a file, relative ones resolved (entry-point blocks aside)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "xda":
                    yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "xda":
                continue
            if node.module is None or mod in ("xda",):  # `from . import x` / `from xda import x`: the submodules
                for a in node.names:
                    yield node.lineno, f"{mod}.{a.name}"
            else:
                yield node.lineno, mod


def _violations():
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        src = _module_name(path)
        gs = _group(src)
        for line, target in _imports(path):
            gt = _group(target)
            if gt != gs and RANK[gt] >= RANK[gs]:
                out.append(f"{path.relative_to(ROOT.parent)}:{line} ({gs}, layer {RANK[gs]}) imports {target} (layer {RANK[gt]})")
    return out


def test_every_module_has_a_layer():
    for path in ROOT.rglob("*.py"):
        _group(_module_name(path))


def test_no_upward_or_sideways_imports():
    assert _violations() == []


def test_the_walker_catches_an_upward_import():
    """The check itself can fail: a numerics module importing the labeled layer is reported."""
    fake = ROOT / "numerics" / "_layer_probe_tmp.py"
    fake.write_text("from ..labeled import units\n")
    try:
        assert any("_layer_probe_tmp" in v for v in _violations())
    finally:
        fake.unlink()


_NO_TORCH = """
import sys
import numpy as np, xarray as xr
import xda
lat = np.linspace(-80, 80, 9); lon = np.arange(0, 360, 30.0)
t = xr.DataArray(280 + np.random.rand(3, 9, 12), dims=("time", "lat", "lon"),
                 coords={"time": np.arange(3) * np.timedelta64(6, "h") + np.datetime64("2000-01-01"), "lat": lat, "lon": lon},
                 attrs={"units": "K"}, name="t")
u = (t * 0 + 10).assign_attrs(units="m/s"); v = (t * 0 - 5).assign_attrs(units="m/s")
xda.gradient(t); xda.laplacian(t); xda.advection(t, u, v); xda.advection_diffusion_residual(t, u, v, 1e5)
xda.divergence(u, v); xda.vorticity(u, v); xda.geostrophic_residual((t * 20).assign_attrs(units="m"), u, v)
xda.effective_diffusivity(t, u, v)
xda.power_spectrum(t); xda.isotropic_power_spectrum(t.sel(lon=slice(0, 200))); xda.spectral_slope(xda.power_spectrum(t))
xda.metrics.rmse(t, t + 1, weights="latitude"); xda.metrics.mae(t, t + 1)
xda.coarsen(t.isel(lat=slice(0, 9)), 3)
bg = xda.datasets.open_dataset("ncep_z500_global")["z500"].isel(time=0)
obs = bg.where(np.random.default_rng(0).random(bg.shape) < 0.05)
xda.assimilate(bg, obs, method="oi")
xda.downscale(xda.datasets.open_dataset("esm_tas")["tas"].isel(time=0), 4, method="bicubic")
xda.available_models()
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""


def test_torch_is_imported_only_when_a_learned_model_runs():
    r = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")


def test_no_import_circles_and_no_wide_private_helpers():
    """Issue 26's shape targets (``benchmarks/architecture.py`` prints them with the offenders): no circle among
    xda modules (function-level imports included), no private helper with more than 8 parameters outside the
    numba kernels, no function over 60 lines of code."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture", ROOT.parent / "benchmarks" / "architecture.py")
    arch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arch)
    edges = arch.graph()
    assert edges and arch.circles(edges) == []
    assert arch.circles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]  # the check can fail
    wide, long_ = arch.shapes()
    assert wide == [] and long_ == []
    for label, pattern, home in arch.ONE_PLACE:  # parsers, sampler loops, EDM noise draws: one place each
        assert arch.outside(pattern, home) == [], label
    assert arch.outside(r"for \w+ in range\(len\(sigmas\)", "xda/cli.py")  # the check can fail
