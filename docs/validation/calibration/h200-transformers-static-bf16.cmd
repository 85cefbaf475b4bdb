# Device (one H200), tree of commit a3168a8 ("calibrate_static_engine.sh: MODELS selects a subset of the design"):
MODELS=qwen2.5-0.5b,qwen2.5-1.5b SWEEP_S=250 TOTAL_S=300 PARTS=none bash scripts/measure_static_calibration_and_video.sh
# i.e. joulebench calibrate llm --engine static --dtype bf16 --measure-only --db static_bf16.db --models qwen2.5-0.5b,qwen2.5-1.5b
#      (cut by `timeout 250` after 27 points), then
#      joulebench calibrate llm --engine static --dtype bf16 --fit-only --gpu-name h200 --db static_bf16.db --out h200-transformers-static-bf16.yaml
#      joulebench validate --calibration h200-transformers-static-bf16.yaml --db static_bf16.db
# The store was checkpointed out of WAL mode before it was committed (PRAGMA wal_checkpoint(TRUNCATE); journal_mode=DELETE).
