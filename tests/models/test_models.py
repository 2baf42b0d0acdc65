import json
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xda
from xda.errors import ModelError
from xda.models import registry
from xda.models.diffusion import N_ENCODED as N_COND, Denoiser, sample, sigma_schedule


def test_shipped_model_loads_offline_and_is_cached():
    assert registry.DEFAULT_MODEL in xda.available_models()
    m1, card = xda.load_model(device="cpu")
    m2, _ = xda.load_model(device="cpu")
    assert m1 is m2  # cached per (name, device, dtype)
    m3, _ = xda.load_model(device="cpu", dtype=torch.float64)
    assert m3 is not m1 and next(m3.parameters()).dtype == torch.float64
    for v, e in card["variables"].items():
        assert e["units"] and e["standard_name"] and len(e["sigma_b"]["values"]) == len(e["sigma_b"]["lat"])
    assert len(card["sha256"]) == 64


def test_corrupt_weights_are_refused(tmp_path, monkeypatch):
    src = registry.find(registry.DEFAULT_MODEL)
    for ext in (".json", ".safetensors"):
        shutil.copy(src.with_suffix(ext), tmp_path / f"bad{ext}")
    card = json.loads((tmp_path / "bad.json").read_text())
    card["sha256"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(card))
    monkeypatch.setenv("XDA_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="sha256"):
        registry.load_model("bad", device="cpu")


def test_preconditioning_limits():
    """At tiny sigma the denoiser returns its input (c_skip -> 1, c_out -> 0)."""
    torch.manual_seed(0)
    d = Denoiser((8, 8, 8, 8))
    x = torch.randn(2, 1, 16, 32)
    cond = torch.randn(2, N_COND, 16, 32)
    out = d(x, torch.tensor([1e-4]), cond, torch.zeros(2, dtype=torch.long), True)
    torch.testing.assert_close(out, x, atol=1e-3, rtol=0)


def test_periodic_network_commutes_with_longitude_roll():
    torch.manual_seed(0)
    d = Denoiser((8, 8, 8, 8)).eval()
    for p in d.parameters():  # the output layer starts at zero: make it non-trivial
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(1, 1, 16, 32)
    cond = torch.randn(1, N_COND, 16, 32)
    v = torch.zeros(1, dtype=torch.long)
    a = d(x, torch.tensor([1.0]), cond, v, True).roll(8, -1)
    b = d(x.roll(8, -1), torch.tensor([1.0]), cond.roll(8, -1), v, True)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_sampler_counts_evaluations_and_schedule():
    s = sigma_schedule(5)
    assert s[0] == pytest.approx(10.0) and s[-1] == 0 and torch.all(s[:-1] > s[1:])
    d = Denoiser((8, 8, 8, 8))
    z, nfe = sample(d, torch.zeros(2, N_COND, 8, 16), torch.zeros(2, dtype=torch.long), True, steps=5)
    assert z.shape == (2, 1, 8, 16) and nfe == 9


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_absent_gpu_is_a_clear_error():
    with pytest.raises(ModelError, match="no CUDA GPU.*device='cpu'"):
        xda.load_model(device="cuda")


def test_default_device_without_gpu_is_cpu():
    assert registry.default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("channels", [(4, 4, 4, 4), (6, 12, 12, 12), (1, 2, 3, 5)])
def test_unet_of_any_width_builds_and_runs_down_to_a_1x1_bottleneck(channels):
    """Tiny models once failed in GroupNorm (8 groups of 4 or 12 channels); a 5 x 7 grid pools to 1 x 1."""
    from xda.models.network import UNet

    net = UNet(2, 1, channels=channels)
    y = net(torch.randn(2, 2, 5, 7), torch.zeros(2), torch.zeros(2, dtype=torch.long), True)
    assert y.shape == (2, 1, 5, 7) and torch.isfinite(y).all()


def test_architectures_registry_builds_every_shipped_card():
    """Each shipped card names (or, written before the entry existed, implies) an architecture of the registry,
    whose class is what `load_model` builds; a card naming an unknown architecture is refused by name."""
    import importlib

    from xda.errors import ParameterError
    from xda.models import cards, registry

    for name in cards.available_models():
        card = cards.load_card(name)
        arch = cards.architecture(card)
        module, cls = cards.ARCHITECTURES[arch].split(":")
        net, _ = registry.load_model(name)
        assert isinstance(net, getattr(importlib.import_module(module), cls)), name
    with pytest.raises(ParameterError, match="architecture='unet3d' is not one of"):
        cards.architecture({"architecture": "unet3d"})


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 3), c=st.integers(1, 4), ny=st.integers(1, 9), nx=st.integers(1, 11), periodic=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_the_convolutions_padding_wraps_longitude_and_replicates_latitude(b, c, ny, nx, periodic, seed):
    """One padded copy equals a circular (or replicate) pad in longitude followed by a replicate pad in latitude,
    values and gradients."""
    import torch.nn.functional as F

    from xda.models.network import _pad

    x = torch.randn(b, c, ny, nx, generator=torch.Generator().manual_seed(seed), dtype=torch.float64, requires_grad=True)
    ref = F.pad(F.pad(x, (1, 1, 0, 0), mode="circular" if periodic else "replicate"), (0, 0, 1, 1), mode="replicate")
    got = _pad(x, periodic)
    assert torch.equal(got, ref)
    w = torch.randn(got.shape, dtype=torch.float64)
    g_ref, = torch.autograd.grad((ref * w).sum(), x)
    g_got, = torch.autograd.grad((got * w).sum(), x)
    torch.testing.assert_close(g_got, g_ref)
