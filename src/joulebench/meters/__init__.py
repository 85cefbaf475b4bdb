"""Energy telemetry: NVML counters, RAPL, labelled estimates, and the short-window protocol."""
