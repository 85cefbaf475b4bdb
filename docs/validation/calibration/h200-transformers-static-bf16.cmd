# card: one NVIDIA H200 (device kind nvidia-h200); torch 2.11.0+cu130 of the image; transformers 5.24.0 in every
# run of the store (session 4: the CLI wheels carried in .whl-ray, see ../ray/compare_ray_executor.cmd, and
# transformers 5.24 / diffusers left in /tmp/site by the video call before it on the same machine).
#
# Session 4 (2026-12-03): the designed sweep finished, resumed from the session-2 store below. Device call
# (carry .whl-ray, timeout_s 560; wall 385.1 s):
cp docs/validation/calibration/h200-transformers-static-bf16.db $OUT/static_bf16.db && \
  WHEELS=.whl-ray SWEEP_S=430 MODELS=llama-3.1-8b,qwen2.5-1.5b bash scripts/calibrate_static_engine.sh bf16
# i.e. joulebench calibrate llm --engine static --dtype bf16 --measure-only --db static_bf16.db --models llama-3.1-8b,qwen2.5-1.5b
#      (21 points to go of 48: Llama-3.1-8B's 16, Qwen2.5-1.5B's 5 decode points; sweep rc 0 after 6:01), then
#      joulebench calibrate llm --engine static --dtype bf16 --fit-only --gpu-name h200 --db static_bf16.db --out h200-transformers-static-bf16.yaml
#      joulebench validate --calibration h200-transformers-static-bf16.yaml --db static_bf16.db
# The store was checkpointed out of WAL mode before it came back (PRAGMA wal_checkpoint(TRUNCATE); journal_mode=DELETE).
# An earlier call of the same session (scripts/compare_ray_and_calibrate_static.sh, 311 s of sweep) measured
# part of the same points, but its store did not come back (a call returns at most 8 files from $OUT; the
# store was the 9th) and is not used; since then device calls tar their outputs.
#
# Session 2 (tree of commit a3168a8): the first 27 points (Qwen2.5-0.5B, Qwen2.5-1.5B's prefill), cut at 250 s:
# MODELS=qwen2.5-0.5b,qwen2.5-1.5b SWEEP_S=250 TOTAL_S=300 PARTS=none bash scripts/measure_static_calibration_and_video.sh
#
# Refit here (CPU, no GPU work; session 4, after the cost model counted transformers' repeat_kv copies in the
# static engine's masked decode attention, src/joulebench/analytic/attention.py `sdpa_cost_path`). The profile,
# -validation.md/.json/.png beside this file come from these two commands on the committed store; the fit of the
# device call itself (before that term) is in h200-transformers-static-bf16-sweep.log:
python3 -m joulebench calibrate llm --engine static --dtype bf16 --fit-only --gpu-name h200 \
  --db docs/validation/calibration/h200-transformers-static-bf16.db --out docs/validation/calibration/h200-transformers-static-bf16.yaml
python3 -m joulebench validate --calibration docs/validation/calibration/h200-transformers-static-bf16.yaml \
  --db docs/validation/calibration/h200-transformers-static-bf16.db
#
# Session 5: the sweep repeated (30 of 48 points, h200-transformers-static-bf16-repeat.cmd) and the profile, its
# -validation.md/.json/.png refitted on both stores with the floors; that file has the command. The two
# commands above give the single-store fit of session 4.
