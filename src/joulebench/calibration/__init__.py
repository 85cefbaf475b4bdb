"""Calibration: fit the analytic model's parameters on measured points and validate out of sample."""
