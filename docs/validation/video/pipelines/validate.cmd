# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03; torch 2.11.0+cu130 from the image;
# carried wheels: python3 scripts/prepare_device_wheels.py (transformers 5.24, diffusers 0.42.1, CLI deps)
# device call (carry .whl, timeout_s 600; wall 421.6 s):
source scripts/device_env.sh && timeout -s INT 565 python3 scripts/measure_video_pipelines.py --parts validate
# wrote validate.json (points + comparison) and video_pipelines.db (the store) into $OUT
#
# (session 11, 2026-12-07) the store is committed gzipped since, video_pipelines.db.gz (5.8 -> 1.2 MB), to keep the
# tree that travels to the GPU box small; to resume from it:
#   gunzip -c docs/validation/video/pipelines/video_pipelines.db.gz > $OUT/video_pipelines.db
