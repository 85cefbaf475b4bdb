# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03 (session 4); torch 2.11.0+cu130 and transformers 5.17 from the image;
# carried: python3 scripts/prepare_ray_wheel.py (slim ray 2.60.0, native binaries LZMA-compressed, + 4 small
# wheels) and the CLI wheels of scripts/prepare_device_wheels.py --studies (typer, click, pydantic, ...), all in .whl-ray
# device call (carry .whl-ray, timeout_s 595; wall 528.9 s for this and the static calibration after it):
bash scripts/compare_ray_and_calibrate_static.sh
# which runs first (204 s):
bash scripts/compare_ray_executor.sh
# result: local1 exit 0 in 67 s, ray exit 0 in 73 s, local2 exit 0 in 59 s; verdict "same within the
# run-to-run floor" (compare_ray_executor.json; the three stores and logs in compare_ray_executor.tgz).
#
# Earlier attempt (session 3, 2026-12-03, with 120 s of stability rounds a point): local1 and ray hit
# their 150 s caps before a point was stored; no comparison was made.
