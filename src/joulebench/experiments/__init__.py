"""Plans (validated grids of points) and the Runner that executes them against the store."""
