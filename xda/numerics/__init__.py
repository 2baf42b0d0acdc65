"""Numerics on plain arrays in SI units and degrees: no xarray, no pint here."""
