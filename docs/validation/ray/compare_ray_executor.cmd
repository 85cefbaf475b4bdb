# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03; torch 2.11.0+cu130 from the image;
# carried: python3 scripts/prepare_ray_wheel.py (slim ray 2.60.0 + 4 small wheels) and the CLI wheels of
# scripts/prepare_device_wheels.py --studies (typer, click, pydantic, ...), all in .whl-ray
# device call (carry .whl-ray, timeout_s 370 - all the device time the session had left):
bash scripts/compare_ray_executor.sh
# result: local1 exit 124 at its 150 s cap with 0 of 2 points stored (still in the first point's prefill
# rounds); the Ray run exit 124 at 153 s (raylet stack trace in the log); the call ended at 370 s
# before the second local run. No comparison was made.
