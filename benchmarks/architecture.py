"""The package's shape against issue 26's targets: import circles, upward imports, wide helpers, long functions.

    python benchmarks/architecture.py

Walks ``xda/`` with ``ast`` (nothing is imported). Prints, with the offenders:

* import circles among xda modules (module-level and function-level imports alike);
* upward imports (a module importing a layer above its own; the ranks of ``tests/test_layers.py``);
* private helpers with more than 8 parameters (numba kernels in ``numerics`` excepted);
* functions over 60 lines of code (docstrings excluded);
* what must live in one place: argparse parsers (in ``xda/cli.py``), sampler loops over noise levels and EDM
  noise-level draws (in ``xda/models/diffusion.py``).
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "xda"
sys.path.insert(0, str(ROOT.parent / "tests"))
from test_layers import RANK, _group, _imports, _module_name  # noqa: E402


def graph() -> dict:
    """xda module -> the xda modules it imports (resolved to existing modules)."""
    names = {_module_name(p) for p in ROOT.rglob("*.py")}
    edges = defaultdict(set)
    for p in ROOT.rglob("*.py"):
        src = _module_name(p)
        for _, mod in _imports(p):
            while mod and mod not in names:
                mod = mod.rpartition(".")[0]
            if mod and mod != src and mod != "xda":
                edges[src].add(mod)
    return edges


def circles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def upward(edges: dict) -> list:
    return [f"{a} -> {b}" for a, bs in edges.items() for b in bs
            if a != "xda" and RANK[_group(b)] > RANK[_group(a)] and not _group(b) == "xda"]


def shapes() -> tuple[list, list]:
    """(helpers with more than 8 parameters, functions over 60 lines of code)."""
    wide, long_ = [], []
    for f in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:]
            lines = {sub.lineno for b in body for sub in ast.walk(b) if hasattr(sub, "lineno")}
            rel = f.relative_to(ROOT.parent)
            if len(lines) > 60:
                long_.append(f"{rel}:{node.lineno} {node.name} ({len(lines)} lines)")
            a = node.args
            n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) - (1 if a.args and a.args[0].arg in ("self", "cls") else 0)
            if n > 8 and node.name.startswith("_") and "numerics" not in f.parts:
                wide.append(f"{rel}:{node.lineno} {node.name} ({n} parameters)")
    return wide, long_


#: (label, pattern, the one file allowed to hold it): what must live in one place (grep-able).
ONE_PLACE = (("argparse parsers", r"ArgumentParser\(", "xda/cli.py"),
             ("sampler loops over noise levels", r"for \w+ in range\(len\(sigmas\)", "xda/models/diffusion.py"),
             ("EDM noise-level draws (ln sigma ~ N(P_mean, P_std))", r"p_mean \+ self\.p_std \* torch\.randn",
              "xda/models/diffusion.py"))


def outside(pattern: str, home: str) -> list:
    """Files of the package other than ``home`` whose source matches ``pattern``."""
    return [str(p.relative_to(ROOT.parent)) for p in sorted(ROOT.rglob("*.py"))
            if re.search(pattern, p.read_text()) and str(p.relative_to(ROOT.parent)) != home]


def main() -> int:
    edges = graph()
    wide, long_ = shapes()
    rows = [("import circles", circles(edges)), ("upward imports", upward(edges)),
            ("private helpers with > 8 parameters", wide), ("functions over 60 lines of code", long_)]
    rows += [(f"{label} outside {home}", outside(pattern, home)) for label, pattern, home in ONE_PLACE]
    print("| target (issue 26) | count | where |\n|---|---|---|")
    for label, items in rows:
        print(f"| {label} | {len(items)} | {'; '.join(map(str, items)) or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
