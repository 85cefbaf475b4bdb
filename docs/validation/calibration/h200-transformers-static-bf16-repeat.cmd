# card: one NVIDIA H200 (device kind nvidia-h200, GPU-73a838d4, driver 580.159.04), 2026-12-03 (session 5);
# 78.08 W and 38 C at the call's start; torch 2.11.0+cu130 of the image; transformers 5.24.0 and the CLI
# wheels carried in .whl (python3 scripts/prepare_device_wheels.py). The designed sweep's first two stores
# ran on two other H200s (GPU-8d6292ed, GPU-d173831c), so the floor below is card-to-card plus run-to-run.
#
# The repeat of the designed static sweep into a fresh store, for the run-to-run floor of the same points.
# Device call (carry .whl, timeout_s 530; wall 434.3 s; the sweep was cut at 420 s, rc 124, after 30 of its
# 48 points: Qwen2.5-1.5B's 16 and Llama-3.1-8B's 14 - Qwen2.5-0.5B's were not reached):
WHEELS=.whl SWEEP_S=420 MODELS=qwen2.5-1.5b,llama-3.1-8b,qwen2.5-0.5b bash scripts/calibrate_static_engine.sh bf16
# i.e. joulebench calibrate llm --engine static --dtype bf16 --measure-only --db static_bf16.db --models qwen2.5-1.5b,llama-3.1-8b,qwen2.5-0.5b
# static_bf16.db came back as h200-transformers-static-bf16-repeat.db, the call's log as
# h200-transformers-static-bf16-repeat-sweep.log (its fit of the partial repeat alone is not used).
#
# Here (CPU): the profile refitted on both stores (each point the mean of its sweeps) and validated, each MAPE
# beside the run-to-run floor of the same points; this writes h200-transformers-static-bf16.yaml and its
# -validation.md/.json/.png beside it:
python3 -m joulebench calibrate llm --engine static --dtype bf16 --fit-only --gpu-name h200 \
  --db h200-transformers-static-bf16.db --db h200-transformers-static-bf16-repeat.db --out h200-transformers-static-bf16.yaml
