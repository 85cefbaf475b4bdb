# Serving on the H200, round 2 session 8 (2026-12-03): the CB engine profile and the first must-show calls
# of scripts/measure_serving.py (issue 18). One card for every call: GPU-035804ec-5d3f-9bf6-7430-6c8502eeffad,
# driver 580.159.04, 78.97-79.96 W and 42-45 C at each call's start; torch 2.11.0+cu130 of the image;
# transformers 5.24.0 and the serve packages carried in .whl-serving (python3 scripts/prepare_serving_wheels.py).
# Every call: carry .whl-serving. Device time: 1,659 of 1,800 s, seven calls on one machine kept warm.
#
# call 0 (wall 15 s): the profile below failed at import: the wheel folder, rebuilt on a fresh checkout,
# held transformers 5.25.0, which needs huggingface-hub >= 2.4 (the image has 1.33). prepare_serving_wheels
# now pins transformers==5.24.0.
#
# profile/  (wall 80.8 s; the script then profiled one variant a process, before its --variants option)
rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  for p in library tuned; do OUT=$OUT/$p python3 scripts/profile_cb_engine.py --preset $p --requests 16 --outputs 32 --max-duration-s 40 2>&1 | grep -v Warning | tail -16; done
# result: cb_profile_{library,tuned}.json (renamed from $OUT/{library,tuned}/cb_profile.json)
#
# must-show calls 1-5 (serving.db, resumed from the previous call's store each time; logs measure_serving_must_show_N.log)
# call 1 (wall 210 s; no store yet):
rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 scripts/measure_serving.py --plan must-show --budget-s 545 2>&1 | grep -v -i warn | tee $OUT/measure_serving_must_show_1.log | tail -30; rm -f $OUT/serving/server.log; pack_out
# calls 2-5 (walls 316, 266, 290, 303 s; budgets 560, 565, 565, 440; N = 2..5):
mkdir -p $OUT/serving && cp docs/validation/serving/run_e/serving.db $OUT/serving/ && rm -rf /tmp/site; WHEELS=.whl-serving source scripts/device_env.sh && \
  nvidia-smi --query-gpu=uuid,driver_version,power.draw,temperature.gpu --format=csv && \
  python3 scripts/measure_serving.py --plan must-show --budget-s BUDGET 2>&1 | grep -v -i warn | tee $OUT/measure_serving_must_show_N.log | tail -30; rm -f $OUT/serving/server.log; pack_out
# result: 7 serve arms of 200 requests (burst, burst-r1, uniform, uniform-r1, fixed-50ms, fixed-50ms-r1,
# fixed-300ms), two a call after the first; the server's warm-up then was two 4-token requests. Call 5's
# budget (440 s) was below the serve arms' need (checkpoint + server + 330 s bound), so it ran the CB arms:
# cb-burst ran out of memory capturing a CUDA graph (private pools 22.8 GiB beside a KV cache given 90% of
# the free memory) and cb-burst-r1 found -15 cache sectors (the failed manager still held its cache).
# Both fixed since (engine.PRESETS["tuned"] max_memory_percent 0.5; cb_engine frees the manager after a run).
#
# tables: python3 scripts/validation_tables.py issue18-run-e (docs/VALIDATION.md, section issue 18, run_e)
# (2026-12-07) the store is committed gzipped since: serving.db.gz (every tracked file travels to the GPU box)
