"""Issue 13, "Weights": loading is tamper-evident (one manifest hash over card + weights) and predictable."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import xda
from xda.errors import ModelError, WeightsError
from xda.models import cards, registry
from xda.models.diffusion import Denoiser

NAME = "hs-t42-v2"  # the smallest assimilation model that ships


@pytest.fixture(autouse=True)
def fresh_cache():
    registry.clear_cache()
    yield
    registry.clear_cache()


def _copy(directory: Path, name: str = NAME) -> Path:
    """A copy of a shipped model in ``directory``; returns ``directory/name``."""
    directory.mkdir(parents=True, exist_ok=True)
    src = registry.find(name)
    for ext in (".json", ".safetensors"):
        shutil.copy(str(src) + ext, directory / f"{name}{ext}")
    return directory / name


def _edit_card(base: Path, edit, seal: bool = False) -> None:
    """Apply ``edit(card)`` to a card file (formatted as save_model does); re-hash it when ``seal``."""
    path = Path(str(base) + ".json")
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card, indent=1))
    if seal:
        cards.seal_card(path)


@pytest.fixture
def copied(tmp_path, monkeypatch):
    """A copy of hs-t42-v2 in $XDA_WEIGHTS_DIR (it shadows the shipped one)."""
    base = _copy(tmp_path / "w")
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(base.parent))
    return base


def _shift_normalisation(card):
    card["variables"]["z500"]["clim_mean"] += 109.0


def test_all_shipped_models_verify(monkeypatch):
    monkeypatch.delenv("XDA_WEIGHTS_DIR", raising=False)
    names = xda.available_models()
    assert {NAME, cards.DEFAULT_DOWNSCALING_MODEL} <= set(names)
    for name in names:
        base = registry.find(name)
        card = json.loads(Path(str(base) + ".json").read_text())
        digest = cards.sha256(str(base) + ".safetensors")
        assert card["sha256"] == digest and card["manifest_sha256"] == cards.manifest_sha256(card, digest)
        assert list(card)[-1] == "manifest_sha256"
        assert cards.load_card(name) == card


def test_a_tampered_card_is_refused(copied):
    registry.load_model(NAME, device="cpu")  # loads (and is cached) before the edit
    _edit_card(copied, _shift_normalisation)
    for load in (lambda: registry.load_model(NAME, device="cpu"), lambda: cards.load_card(NAME)):
        with pytest.raises(WeightsError, match="manifest_sha256") as e:
            load()
        assert str(copied) + ".json" in str(e.value) and "save_model" in str(e.value)


def test_tampered_weights_are_refused(copied):
    registry.load_model(NAME, device="cpu")
    wfile = Path(str(copied) + ".safetensors")
    data = bytearray(wfile.read_bytes())
    data[-100] ^= 0xFF  # one bit pattern in the last tensor, same size
    wfile.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the sha256") as e:
        registry.load_model(NAME, device="cpu")
    assert str(wfile) in str(e.value)


@pytest.mark.parametrize("keys", [("sha256", "manifest_sha256"), ("manifest_sha256",), ("sha256",)])
def test_a_card_without_hashes_is_refused_and_can_be_sealed(copied, keys):
    _edit_card(copied, lambda c: [c.pop(k) for k in keys])
    with pytest.raises(WeightsError, match=f"has no {keys[0]}.*save_model"):
        registry.load_model(NAME, device="cpu")
    cards.seal_card(copied)
    assert registry.load_model(NAME, device="cpu")[1]["manifest_sha256"]


def test_the_cache_follows_the_weights_dir_and_edits(tmp_path, monkeypatch):
    a = _copy(tmp_path / "a")
    b = _copy(tmp_path / "b")
    _edit_card(b, _shift_normalisation, seal=True)
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(a.parent))
    net_a, card_a = registry.load_model(NAME, device="cpu")
    assert registry.load_model(NAME, device="cpu")[0] is net_a  # cached
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(b.parent))  # no clear_cache: the key is the card file + manifest
    net_b, card_b = registry.load_model(NAME, device="cpu")
    assert net_b is not net_a
    assert card_b["variables"]["z500"]["clim_mean"] == card_a["variables"]["z500"]["clim_mean"] + 109.0
    _edit_card(b, lambda c: c.update(description="edited on purpose"), seal=True)  # in place, re-sealed
    assert registry.load_model(NAME, device="cpu")[1]["description"] == "edited on purpose"
    assert len([k for k in registry._CACHE if k[0] == str(Path(str(b) + ".json").resolve())]) == 1  # old one dropped


def test_a_missing_weights_dir_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(missing))
    for call in (lambda: registry.load_model(NAME, device="cpu"), xda.available_models, lambda: cards.load_card(NAME)):
        with pytest.raises(WeightsError, match=f"XDA_WEIGHTS_DIR='{missing}' does not exist.*unset"):
            call()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "file"))
    with pytest.raises(WeightsError, match="is not a directory"):
        xda.available_models()
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path / "empty"))  # existing but empty: the shipped models
    assert NAME in xda.available_models() and cards.load_card(NAME)["name"] == NAME


def test_malformed_card_is_an_error_with_its_path(copied):
    card = Path(str(copied) + ".json")
    card.write_text(card.read_text()[:500])
    with pytest.raises(WeightsError, match="not valid JSON.*line") as e:
        registry.load_model(NAME, device="cpu")
    assert str(card) in str(e.value)


def test_a_card_without_its_network_is_an_error(copied):
    _edit_card(copied, lambda c: c.pop("network"), seal=True)
    with pytest.raises(WeightsError, match="has no 'network'"):
        registry.load_model(NAME, device="cpu")


def test_truncated_safetensors_are_an_error(copied):
    wfile = Path(str(copied) + ".safetensors")
    wfile.write_bytes(wfile.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="sha256"):
        registry.load_model(NAME, device="cpu")
    cards.seal_card(copied)  # even with matching hashes, the file is not loadable
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        registry.load_model(NAME, device="cpu")


def test_tensors_that_do_not_fit_the_network_are_an_error(copied):
    _edit_card(copied, lambda c: c["network"].update(channels=[8, 8, 8, 8]), seal=True)
    with pytest.raises(WeightsError, match="do not fit the network"):
        registry.load_model(NAME, device="cpu")


def test_load_by_path(tmp_path, monkeypatch):
    monkeypatch.delenv("XDA_WEIGHTS_DIR", raising=False)
    base = _copy(tmp_path / "elsewhere")
    net, card = registry.load_model(str(base) + ".safetensors", device="cpu")
    for spec in (str(base) + ".json", Path(str(base) + ".json"), Path(str(base) + ".safetensors"), base, str(base)):
        assert registry.load_model(spec, device="cpu")[0] is net
        assert cards.load_card(spec) == card
    assert xda.load_model(base, device="cpu")[0] is net
    by_name, card_by_name = registry.load_model(NAME, device="cpu")  # the shipped files: another cache entry
    assert card_by_name == card
    for (k, v), (k2, v2) in zip(net.state_dict().items(), by_name.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_bad_paths_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("XDA_WEIGHTS_DIR", raising=False)
    base = _copy(tmp_path)
    with pytest.raises(WeightsError, match="is a directory.*hs-t42-v2"):
        registry.load_model(tmp_path, device="cpu")
    Path(str(base) + ".json").unlink()
    with pytest.raises(WeightsError, match=r"hs-t42-v2\.json not found"):
        registry.load_model(str(base) + ".safetensors", device="cpu")
    with pytest.raises(WeightsError, match="leave out the suffix: 'hs-t42-v2'"):
        cards.load_card("hs-t42-v2.json")
    with pytest.raises(ModelError, match="no model named 'nope'"):
        cards.load_card("nope")


def test_a_half_model_in_the_weights_dir_is_an_error(copied):
    Path(str(copied) + ".safetensors").unlink()
    with pytest.raises(WeightsError, match="hs-t42-v2.safetensors does not"):
        registry.load_model(NAME, device="cpu")


def test_save_model_writes_a_manifest_that_loads(tmp_path):
    card = {"kind": "assimilation", "anchor": "oi", "variables": {}, "manifest_sha256": "stale"}
    registry.save_model(Denoiser((8, 8, 8, 8)), card, tmp_path, "tiny.v1")  # a dot in the name
    written = json.loads((tmp_path / "tiny.v1.json").read_text())
    assert written["manifest_sha256"] == cards.manifest_sha256(written, written["sha256"])
    net, loaded = registry.load_model(tmp_path / "tiny.v1.safetensors", device="cpu")
    assert loaded == written and isinstance(net, Denoiser)


def test_require_kind():
    ds = cards.load_card(cards.DEFAULT_DOWNSCALING_MODEL)
    with pytest.raises(ModelError, match=r"'hs-t63-ds-v1' is a downscaling model; assimilate needs an assimilation "
                                         r"model: one of \[.*'hs-t42-v2'"):
        cards.require_kind(ds, "assimilation", "hs-t63-ds-v1")
    with pytest.raises(ModelError, match=r"is a joint assimilation model; downscale needs a downscaling model: one of "
                                         r"\['hs-t63-ds-v1', 'hs-t63-ds-v2'\]"):
        cards.require_kind(cards.load_card("hs-t42-mv-v1"), "downscaling", "hs-t42-mv-v1")
    cards.require_kind(ds, "downscaling", "hs-t63-ds-v1")
    cards.require_kind({"network": {}}, "assimilation", "old", anchor=None)  # no kind: assimilation
    with pytest.raises(ModelError, match="anchored on None; assimilate needs an assimilation model anchored on 'oi'"):
        cards.require_kind({"network": {}}, "assimilation", "old", anchor="oi")


def test_assimilate_takes_a_model_path(tmp_path, monkeypatch):
    monkeypatch.delenv("XDA_WEIGHTS_DIR", raising=False)
    base = _copy(tmp_path)
    lat, lon = np.linspace(-80, 80, 33), np.arange(0, 360, 5.0)
    attrs = {"units": "m", "standard_name": "geopotential_height"}
    bg = xr.DataArray(5500 + 0 * lat[:, None] * lon, coords={"lat": lat, "lon": lon}, dims=("lat", "lon"),
                      name="z500", attrs=attrs)
    obs = bg.where(False).copy()
    obs[16, 20] = 5530.0
    kw = dict(seed=0, steps=2)
    by_path = xda.assimilate(bg, obs, model=str(base) + ".safetensors", **kw)
    by_name = xda.assimilate(bg, obs, model=NAME, **kw)
    np.testing.assert_array_equal(by_path.values, by_name.values)
    assert float(by_path[16, 20]) > 5500.0


# ----------------------------------------------------------------------------- typed, versioned cards


@pytest.mark.parametrize("name, arch", [("hs-t42-v2", "anchored"), ("hs-t42-mv-v1", "joint"),
                                        ("hs-t42-mv-latent-v1", "latent"), ("hs-t63-ds-v1", "downscaling")])
def test_a_schema_1_card_is_read_as_a_typed_card_with_its_architecture(name, arch):
    """The shipped cards predate the schema version: their flags are read once, into ``architecture``."""
    card = cards.load_card(name)
    assert isinstance(card, cards.ModelCard) and card.schema_version == 1
    assert card.architecture == arch == cards.architecture(card)
    assert card.name == name and card.kind in cards.REQUIRED and card.network == card.to_dict()["network"]
    assert card == json.loads(Path(str(registry.find(name)) + ".json").read_text())


def test_a_card_is_read_only():
    card = cards.load_card(NAME)
    key = next(iter(card["variables"]))
    with pytest.raises(TypeError):
        card["variables"][key]["units"] = "km"
    with pytest.raises(TypeError):
        card["grid"]["shape"][0] = 3  # arrays are tuples
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        card.architecture = "joint"
    copy = card.to_dict()  # a mutable deep copy to derive a new card from
    copy["variables"][key]["units"] = "km"
    assert card["variables"][key]["units"] != "km"


def test_save_model_writes_the_schema_version_and_architecture(tmp_path, monkeypatch):
    net, card = registry.load_model(NAME, device="cpu")
    registry.save_model(net, card, tmp_path, "resaved")
    saved = json.loads((tmp_path / "resaved.json").read_text())
    assert saved["schema_version"] == cards.SCHEMA_VERSION and saved["architecture"] == "anchored"
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path))
    again = cards.load_card("resaved")
    assert again.schema_version == cards.SCHEMA_VERSION and again.to_dict()["variables"] == card.to_dict()["variables"]


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.update(schema_version=99), r"schema_version=99; this xda reads versions 1 to 2: upgrade xda"),
    (lambda c: c.update(architecture="transformer"), r"architecture 'transformer'; xda knows \['anchored'"),
])
def test_a_card_from_the_future_is_refused_by_name(copied, edit, match):
    _edit_card(copied, edit, seal=True)
    with pytest.raises(WeightsError, match=match):
        cards.load_card(str(copied))
