# The store is committed gzipped since 2026-12-08 (llm_studies.db.gz, 5.3 MB -> 1.5 MB: the tree that travels to
# the GPU box has 64 MiB, wheels included). The device commands below are as they ran, on the plain file; to
# resume from it now: gunzip -c docs/validation/studies/llm_studies.db.gz > $OUT/llm_studies.db. The --tables-only
# commands read the .gz as it is; their tables came out identical to the committed *_tables.json, whose "db"
# field still names the plain file they were first written from.
#
# card: one NVIDIA H200 (device kind nvidia-h200), 2026-12-03, 79.02 W and 40 C at the call's start;
# torch 2.11.0+cu130 and transformers 5.17 from the image; bitsandbytes 0.50.2 (CUDA 13 kernels) and
# torchao 0.18.0 carried: rm -rf .whl && python3 scripts/prepare_device_wheels.py --studies
# device call (carry .whl, timeout_s 600; wall 520.8 s):
source scripts/device_env.sh && python3 -m joulebench --version && python3 -m joulebench study precision --help >/dev/null && python3 scripts/measure_llm_studies.py --budget-s 540
# result: the thank-you part used 510.8 s and was interrupted at 4 of its 9 designed points (stored in
# llm_studies.db); the later parts got no time (the script then gave each 1 s; it now skips them)
#
# Session 5 (2026-12-03; card: one NVIDIA H200, 78.19 W and 39 C at the call's start; the same image; .whl-studies
# carried: the studies set of scripts/prepare_device_wheels.py --studies), resumed from the committed store, with
# the script's --point-budget-s 30 default (device call: carry .whl-studies, timeout_s 600; wall 500.0 s):
rm -rf /tmp/site; cp docs/validation/studies/llm_studies.db $OUT/ && WHEELS=.whl-studies source scripts/device_env.sh && \
  python3 -m joulebench --version && python3 scripts/measure_llm_studies.py --budget-s 525
# result: the thank-you part used 495.8 s and was interrupted at 15 of 17 points (the 9 design points and 6 of the
# 8 check requests; stored in llm_studies.db as points 5-19). Points 1-4 of session 4 were not reused: the 30 s
# point budget is part of a point's protocol, so the same lengths are another configuration. Its log and summary:
# llm_studies_session5.log, summary_session5.json. The later parts got no time.
#
# The thank-you study's tables from the 15 stored points of session 5 (CPU, no GPU work; measures and stores
# nothing) -> thank_you_tables.json:
python3 -m joulebench study thank-you --model llama-3.1-8b --dtype fp32 --requests 10000 --max-check 8 \
  --point-budget-s 30 --db docs/validation/studies/llm_studies.db.gz --tables-only --json
#
# Session 6 (2026-12-03; card: one NVIDIA H200 GPU-888cc9e0-da64-878c-da31-88b39d779692, driver 580.159.04,
# 79.75 W and 40 C at the first call's start; the same image; .whl-studies carried). The first call was refused
# at start ("no device machine could be started") and retried at once; then three calls back to back on one warm
# machine, each resumed from the store the call before returned (copied over docs/validation/studies/llm_studies.db
# before the next). Logs and summaries: llm_studies_session6_call{1,2,3}.log, summary_session6_call{1,2,3}.json.
# Call 1 (carry .whl-studies, timeout_s 600; wall 514.0 s):
rm -rf /tmp/site; cp docs/validation/studies/llm_studies.db $OUT/ && WHEELS=.whl-studies source scripts/device_env.sh && \
  nvidia-smi --query-gpu=name,uuid,driver_version,power.draw,temperature.gpu --format=csv,noheader && \
  python3 scripts/measure_llm_studies.py --parts thank-you,sizes,precision --budget-s 540; pack_out
# result: thank-you stored its last 2 check requests (points 20-21) and stopped by its rule (+-1.9% <= +-2%);
# sizes stored its 7 points; precision (eager) 5 of 8 before the budget's SIGINT.
# Call 2 (carry .whl-studies, timeout_s 600; wall 521.1 s):
cp docs/validation/studies/llm_studies.db $OUT/ && WHEELS=.whl-studies source scripts/device_env.sh && \
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu --format=csv,noheader && \
  python3 scripts/measure_llm_studies.py --parts precision,batch,precision-static \
  --static-dtypes bf16,fp16,torchao-int8,torchao-int4,torchao-fp8,fp32,bnb-nf4,bnb-int8 --budget-s 545; pack_out
# result: precision (eager) complete (its fp32 point is sizes' Llama-3.1-8B point, found stored); batch's 5 points;
# precision-static 3 of 8 before the budget's SIGINT.
# Call 3 (carry .whl-studies, timeout_s 545; wall 485.2 s):
cp docs/validation/studies/llm_studies.db $OUT/ && WHEELS=.whl-studies source scripts/device_env.sh && \
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu --format=csv,noheader && \
  python3 scripts/measure_llm_studies.py --parts precision-static \
  --static-dtypes bf16,fp16,torchao-int8,torchao-int4,torchao-fp8,fp32,bnb-nf4,bnb-int8 --budget-s 510; pack_out
# result: precision-static 7 of 8 (bnb-int8 on the static engine not reached; 66 s of device time were left).
#
# The tables of every study from the final store (CPU, no GPU work; measures and stores nothing), run in
# docs/validation/studies/, C="--device cuda --db llm_studies.db.gz --json --point-budget-s 30.0 --tables-only":
python3 -m joulebench study thank-you --model llama-3.1-8b --dtype fp32 --requests 10000 --max-check 8 $C > thank_you_tables.json
python3 -m joulebench study sizes --model qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-3b,qwen2.5-7b,qwen2.5-14b,mistral-7b-v0.3,llama-3.1-8b \
  --dtype fp32 --output-tokens 32 $C > sizes_tables.json
python3 -m joulebench study precision --model llama-3.1-8b --dtype fp32,bf16,fp16,bnb-int8,bnb-nf4,torchao-int8,torchao-int4,torchao-fp8 \
  --engine eager --output-tokens 32 $C > precision_eager_tables.json
python3 -m joulebench study precision --model llama-3.1-8b --dtype bf16,fp16,torchao-int8,torchao-int4,torchao-fp8,fp32,bnb-nf4,bnb-int8 \
  --engine static --output-tokens 32 $C > precision_static_tables.json
python3 -m joulebench study batch --model llama-3.1-8b --dtype bf16 --batches 1,4,16 --output-tokens 32 $C > batch_tables.json
# then: python3 scripts/validation_tables.py --write (docs/VALIDATION.md, issue-12 sections)
#
# Session 7 (2026-12-03; card: one NVIDIA H200 GPU-9b14ac54-acbc-4da7-d77a-830cc18eb2ce, driver 580.159.04,
# 82.20 W and 40 C at the call's start; the same image; .whl-studies carried), resumed from the committed store.
# Log and summary: llm_studies_session7_call1.log, summary_session7_call1.json.
# Call 1 (carry .whl-studies, timeout_s 420; wall 149.3 s):
cp docs/validation/studies/llm_studies.db $OUT/ && rm -rf /tmp/site; WHEELS=.whl-studies source scripts/device_env.sh && \
  nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 scripts/measure_llm_studies.py --parts precision-static --budget-s 300 2>&1 | tee $OUT/llm_studies_session7_call1.log | tail -40; pack_out
# result: precision-static 8 of 8 (bnb-int8 measured, point 52; the other 7 found stored). precision_static_tables.json
# rewritten with the tables-only command above; the other four tables came out byte-identical.
