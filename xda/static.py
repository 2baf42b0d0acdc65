"""Static surface fields on any grid (public entry point; the code is :mod:`xda.labeled.static`)."""

from .labeled.static import orography_like, surface_altitude

__all__ = ["orography_like", "surface_altitude"]
