"""Static surface fields on any grid (public entry point; the code is :mod:`xda.labeled.static`)."""

from .labeled.static import land_area_fraction, orography_like, relief_std, surface_altitude

__all__ = ["land_area_fraction", "orography_like", "relief_std", "surface_altitude"]
