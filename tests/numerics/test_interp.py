import numpy as np
import pytest
import scipy.interpolate
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xda.numerics.interp import apply, apply_torch, bilinear_weights

LAT = np.linspace(-80, 80, 17)
LON = np.arange(0, 360, 7.5)  # 48 points: wraps


def field(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(LAT.size, LON.size))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-80, 80), st.floats(-720, 720)), min_size=1, max_size=20))
def test_periodic_bilinear_matches_scipy(points):
    f = field()
    plat, plon = np.array(points).T
    op, inside = bilinear_weights(LAT, LON, plat, plon, periodic=True)
    assert inside.all()
    # scipy reference on a grid extended by one column across the seam
    ext = np.concatenate([f, f[:, :1]], axis=1)
    ref = scipy.interpolate.RegularGridInterpolator((LAT, np.append(LON, 360.0)), ext)
    expected = ref(np.stack([plat, np.mod(plon, 360.0)], axis=1))
    np.testing.assert_allclose(apply(op, f), expected, rtol=1e-10, atol=1e-10)


def test_descending_latitudes_give_the_same_values():
    f = field(1)
    plat, plon = np.array([10.3, -45.0, 79.9]), np.array([3.0, 200.0, 359.0])
    a = apply(bilinear_weights(LAT, LON, plat, plon, periodic=True)[0], f)
    b = apply(bilinear_weights(LAT[::-1], LON, plat, plon, periodic=True)[0], f[::-1])
    np.testing.assert_allclose(a, b)


def test_regional_grid_flags_outside_points_and_matches_scipy():
    lat, lon = np.linspace(20, 60, 33), np.linspace(-140, -52.5, 36)
    f = np.random.default_rng(2).normal(size=(33, 36))
    plat = np.array([30.0, 59.9, 10.0, 40.0])
    plon = np.array([-100.0, 220.0, -100.0, -20.0])  # 220 E == -140 E: inside
    op, inside = bilinear_weights(lat, lon, plat, plon, periodic=False)
    assert inside.tolist() == [True, True, False, False]
    ref = scipy.interpolate.RegularGridInterpolator((lat, lon), f)
    np.testing.assert_allclose(apply(op, f), ref(np.array([[30.0, -100.0], [59.9, -140.0]])), atol=1e-12)


def test_grid_points_are_reproduced_exactly():
    f = field(3)
    glat, glon = np.meshgrid(LAT, LON, indexing="ij")
    op, _ = bilinear_weights(LAT, LON, glat.ravel(), glon.ravel(), periodic=True)
    np.testing.assert_allclose(apply(op, f), f.ravel(), atol=1e-12)
    np.testing.assert_array_equal(op.nearest(), np.arange(f.size))


def test_torch_twin_equals_numpy_and_is_differentiable():
    f = field(4)
    op, _ = bilinear_weights(LAT, LON, np.array([12.0, -33.3]), np.array([100.1, 355.0]), periodic=True)
    x = torch.tensor(f, requires_grad=True)
    y = apply_torch(torch.as_tensor(op.index), torch.as_tensor(op.weight), x)
    np.testing.assert_allclose(y.detach().numpy(), apply(op, f), rtol=1e-12)
    y.sum().backward()
    assert x.grad.sum().item() == pytest.approx(2.0)  # weights sum to one per point
