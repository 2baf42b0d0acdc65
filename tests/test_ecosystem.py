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
