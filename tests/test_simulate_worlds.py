"""The OSSE's simulated worlds (issue 27, item 2): the table, the CLI and the refusal of an unknown world.

The simulation itself needs the optional ``simulate`` extra (jax, dinosaur), which CI does not
install; these tests check what a user meets before any integration starts.
"""

import sys

import pytest

from xda import cli
from xda.errors import ParameterError
from xda.simulate import core


def test_every_world_changes_only_parameters_dinosaur_knows():
    assert core.WORLDS["hs94"] == core.World({}, False, False, core.WORLDS["hs94"].about)  # the shipped models' world
    for name, w in core.WORLDS.items():
        assert set(w.forcing) <= set(core.FORCING_UNITS), name
        assert w.about, name
    assert any(w.orography and w.land_sea for w in core.WORLDS.values())
    assert len({tuple(sorted(w.forcing.items())) + (w.orography, w.land_sea) for w in core.WORLDS.values()}) == len(core.WORLDS)


def test_an_unknown_world_is_refused_before_the_model_is_built(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "jax", None)  # importing jax would fail: the check must come first
    with pytest.raises(ParameterError, match=r"world='mars' is not a simulated world; use one of hs94, earth"):
        core.simulate(tmp_path / "sim.nc", world="mars")
    assert not (tmp_path / "sim.nc").exists()


def test_the_cli_offers_every_world_and_passes_it_on(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(core, "simulate", lambda out, *a, **kw: seen.update(out=out, **kw) or tmp_path / "sim.nc")
    assert cli.main(["simulate", "--world", "earth", "--out", str(tmp_path / "sim.nc"), "--leads", "6,12"]) == 0
    assert seen["world"] == "earth" and seen["leads"] == (6, 12)
    with pytest.raises(SystemExit) as e:
        cli.main(["simulate", "--world", "mars"])
    assert e.value.code == 2
    simulate = cli.parser()._subparsers._group_actions[0].choices["simulate"]
    assert list(next(a for a in simulate._actions if a.dest == "world").choices) == list(core.WORLDS)
