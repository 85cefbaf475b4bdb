# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03 (session 4); torch 2.11.0+cu130 from the image;
# carried wheels: python3 scripts/prepare_device_wheels.py (transformers 5.24, diffusers 0.42.1, CLI deps)
# device call (carry .whl, timeout_s 595; wall 506.2 s), resumed from the committed store of the validate part:
source scripts/device_env.sh && cp docs/validation/video/pipelines/video_pipelines.db $OUT/ && \
  timeout -s INT 555 python3 scripts/measure_video_pipelines.py --parts scaling,models > $OUT/video_call.log 2>&1
# wrote scaling.json, models.json (points + comparison), video_pipelines.db (the store, checkpointed out of WAL
# mode) and the log (scaling_models.log here). scaling: 18 of 18 points (2 of them already stored by validate);
# models: 3 of 5 (AnimateDiff-Lightning failed: a tensor left on the CPU; Mochi-1 ran out of GPU memory).
#
# offload part, same session (carry .whl, timeout_s 215): the time left (190 s) ended inside the random-weight
# initialisation of the offloaded pipeline, which runs on the CPU; nothing was stored (offload_interrupted.log):
source scripts/device_env.sh && cp docs/validation/video/pipelines/video_pipelines.db $OUT/ && \
  timeout -s INT 190 python3 scripts/measure_video_pipelines.py --parts offload > $OUT/offload_call.log 2>&1
#
# (session 11, 2026-12-07) the store is committed gzipped since, video_pipelines.db.gz (5.8 -> 1.2 MB), to keep the
# tree that travels to the GPU box small; to resume from it, replace the copy above by
#   gunzip -c docs/validation/video/pipelines/video_pipelines.db.gz > $OUT/video_pipelines.db
