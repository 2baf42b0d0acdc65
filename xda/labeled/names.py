"""One vocabulary of variable names for every task: CF standard names first, then common short names.

``assimilate`` and ``downscale`` both identify a variable by its ``standard_name``
attribute; without one, by a name from :data:`VOCABULARY` (CMIP, ERA5, WRF and NCEP
spellings) whose units have the right dimension. So a ``t2m`` in K is air
temperature for both tasks, and a ``z`` in m2 s-2 (geopotential) is not a height.
"""

from __future__ import annotations

import xarray as xr

from ..errors import UnitsError
from . import units as xu

#: Short names by CF standard name (the first one is xda's own).
VOCABULARY: dict[str, tuple[str, ...]] = {
    "air_temperature": ("tas", "t2m", "T2", "t2", "2t", "temperature", "air", "TMP", "t", "T"),
    "geopotential_height": ("z500", "zg", "hgt", "HGT", "gh", "height", "z", "Z"),
    "eastward_wind": ("uas", "u10", "U10", "ua", "UGRD", "u", "U"),
    "northward_wind": ("vas", "v10", "V10", "va", "VGRD", "v", "V"),
}
#: Attribute of an ensemble whose members are recentred on an estimate, ``x_k = x_hat + sqrt(M/(M-1)) (u_k - mean u)``
#: (xda's members): :func:`xda.metrics.crps` and :func:`xda.metrics.spread_skill_ratio` read it.
RECENTRED_ATTR = "xda_members_recentred"
RECENTRED_NOTE = "on the best estimate: x_hat + sqrt(M/(M-1)) (u_k - mean u)"
MEMBERS_ATTR = "xda_members"
MEMBERS_SHIFTED_NOTE = ("the sampler's raw draws u_k, centred on the model's estimate m (its mean head), moved with it to "
                        "the verified estimate: x_hat + (u_k - m); not recentred")
MEMBERS_DISTILLED_NOTE = ("the sampler's raw draws u_k about the model's estimate m of their mean (its mean head), "
                          "moved to the verified estimate: x_a + s_a (w h + k (u_k - m)), h the posterior-mean head; "
                          "not recentred")

#: Units each standard name's values must be convertible to.
_DIMENSION = {"air_temperature": "K", "geopotential_height": "m", "eastward_wind": "m s-1", "northward_wind": "m s-1"}


def _convertible(da: xr.DataArray, target: str) -> bool:
    try:
        xu.scale_and_offset(xu.units_of(da), target)
    except UnitsError:  # no units or another dimension: not this quantity
        return False
    return True


def standard_name(name: str, da: xr.DataArray) -> str | None:
    """The CF standard name of variable ``name``: its ``standard_name`` attribute, else the one whose
    :data:`VOCABULARY` lists ``name`` (exact spelling) and whose units ``da`` has; else None."""
    if da.attrs.get("standard_name"):
        return da.attrs["standard_name"]
    for sn, names in VOCABULARY.items():
        if name in names and _convertible(da, _DIMENSION[sn]):
            return sn
    return None


def find(ds: xr.Dataset, standard: str) -> list[str]:
    """Names of the variables of ``ds`` that are ``standard`` (by attribute; by name only when none has the
    attribute), in the order of :data:`VOCABULARY`."""
    hits = [n for n, da in ds.data_vars.items() if da.attrs.get("standard_name") == standard]
    if hits:
        return hits
    by_name = [n for n in VOCABULARY.get(standard, ()) if n in ds.data_vars and standard_name(n, ds[n]) == standard]
    return by_name[:1]
