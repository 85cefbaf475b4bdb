# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03 (session 5); 77.26 W and 36 C at the call's start;
# torch 2.11.0+cu130 and accelerate from the image; carried wheels: python3 scripts/prepare_device_wheels.py
# (transformers 5.24, diffusers 0.42.1, CLI deps)
# device call (carry .whl, timeout_s 600; wall 504.0 s), resumed from the committed store of sessions 3 and 4:
source scripts/device_env.sh && nvidia-smi --query-gpu=name,power.draw,temperature.gpu,memory.used --format=csv,noheader > $OUT/card.txt; \
  cp docs/validation/video/pipelines/video_pipelines.db $OUT/ && \
  timeout -s INT 555 python3 scripts/measure_video_pipelines.py --parts models,models-large,offload > $OUT/video_call.log 2>&1; \
  echo "rc=$?" >> $OUT/video_call.log; pack_out
# wrote models.json (all five models: CogVideoX-2b/5b and LTX-Video from session 4's store, AnimateDiff-Lightning
# and Mochi-1 measured now after their fixes), models-large.json (Wan2.1-14B, HunyuanVideo), offload.json
# (Wan2.1-1.3B 720x1280x81, K=3, enable_model_cpu_offload), video_pipelines.db (the store, checkpointed out of WAL
# mode) and the log (models_large_offload.log here); "done in 498 s".
# offload.json's request_predicted repeats every measured step 50 times (410.3 s +- 658 s), the code of that
# call; the first step under model offload moves the DiT in once, and scripts/validation_tables.py derives the
# prediction again from the stored steps with it counted once (section issue19-offload of docs/VALIDATION.md).
#
# (session 11, 2026-12-07) the store is committed gzipped since, video_pipelines.db.gz (5.8 -> 1.2 MB), to keep the
# tree that travels to the GPU box small; to resume from it, replace the copy above by
#   gunzip -c docs/validation/video/pipelines/video_pipelines.db.gz > $OUT/video_pipelines.db
