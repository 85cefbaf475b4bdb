# Serving on the H200, round 2 session 7 (2026-12-03): the first GPU runs of scripts/measure_serving.py
# (issue 18). Not the must-show: 24-48 requests an arm, one run each. Driver 580.159.04 on every card;
# torch 2.11.0+cu130 of the image; transformers 5.24.0 and the serve packages carried in .whl-serving
# (python3 scripts/prepare_serving_wheels.py; the set grew over the calls below, as each failure showed).
# Every call: carry .whl-serving. Each call's table is its log (measure_serving_*.log in the folder).
#
# knobs/  (card GPU-9b14ac54-acbc-4da7-d77a-830cc18eb2ce, 81.79 W and 40 C at the start; timeout_s 590, wall 377.5 s)
rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 -c "import transformers; print('transformers', transformers.__version__)" && \
  python3 scripts/measure_serving.py --plan knobs --budget-s 520 2>&1 | tee $OUT/measure_serving_knobs.log | tail -45; rm -f $OUT/serving/server.log; pack_out
# result: 8 arms, 48 requests each under burst; max_requests_per_batch=8 and =16 were cut by the 50 s bound.
# Their floors were not stored (the arm's environment then carried no GPU); validation_tables recomputes them
# from the stored request records (serving_bench.stored_floor), marked (r).
#
# serve/failed_call1_opentelemetry.log  (same card; timeout_s 595, wall 51.5 s): the serve plan; the server
# exited before ready: fastapi 0.165 imports opentelemetry, not carried then.
#
# cb_laws/  (card GPU-41e06589-43e1-0f49-4380-59d5a2930242, 78.72 W and 36 C; timeout_s 598, wall 130.8 s)
rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 -c "import fastapi, uvicorn, openai, transformers.cli.serve; print('serve imports ok')" && \
  python3 scripts/measure_serving.py --plan serve --budget-s 560 2>&1 | tee $OUT/measure_serving_serve.log | tail -25; \
  cp $OUT/serving/summary.json $OUT/serving/summary_serve.json; left=$((585 - SECONDS)); echo "left $left s"; \
  [ $left -gt 120 ] && timeout -s INT $left python3 scripts/measure_serving.py --plan engines --targets cb --preset graphs-no-kv-padding --budget-s 400 2>&1 | tee $OUT/measure_serving_cb_laws.log | tail -20; pack_out
# result: the import check failed (openai 3.60 imports httpx2, not carried then), so the serve plan did not
# run; the CB arms under the five laws with the knob sweep's best preset ran (24 requests each).
#
# serve/failed_call2_no_text.log  (card GPU-41e06589; timeout_s 598, wall 242.1 s): the serve plan served
# 1-5 of 24 requests an arm: the random-weight model emits ids up to 128,255 and the saved byte tokenizer
# knew 262, so nearly every token decoded to no text and the stream carried no token times. Fixed:
# byte_tokenizer(vocab_size) gives every id a visible filler word.
#
# serve/  (card GPU-4c6b3b0f-5052-9361-0d13-ff5971c7afab, 80.29 W and 37 C; timeout_s 470, wall 213.3 s)
rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 scripts/measure_serving.py --plan serve --max-duration serve=30 --budget-s 440 2>&1 | tee $OUT/measure_serving_serve.log | tail -25; pack_out
# result: transformers serve --continuous-batching (sdpa, bf16) on a saved random-weight Llama-3.1-8B, five
# laws x 24 requests; the requests not finished inside the 30 s bound are "incomplete" (2-5 an arm), not errors.
#
# tables: python3 scripts/validation_tables.py issue18-h200 (docs/VALIDATION.md, section issue 18)
# knob arms' JSON files: '@' and '=' of the arm names written as '__' and '-' (file names that travel anywhere)
