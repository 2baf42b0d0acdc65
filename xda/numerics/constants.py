"""Physical constants (SI) shared by the numerics."""

EARTH_RADIUS = 6.371e6  # m, mean radius
OMEGA = 7.292115e-5  # s-1, Earth's rotation rate
GRAVITY = 9.80665  # m s-2, standard gravity
R_DRY = 287.04  # J kg-1 K-1, gas constant of dry air
