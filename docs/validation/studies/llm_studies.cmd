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
  --point-budget-s 30 --db docs/validation/studies/llm_studies.db --tables-only --json
