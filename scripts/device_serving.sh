#!/usr/bin/env bash
# Device run: serving arms (issue 5). Usage: bash scripts/device_serving.sh ARM[,ARM...]
set -u
source scripts/device_env.sh
R=${OUT:-/tmp/out}/r; mkdir -p "$R/serving"
timeout 570 python3 benchmarks/serving_arms.py "$R/serving" --only "$1" --db "$R/serving/serving.db" 2>&1 \
  | grep -v -i -E "warn|deprecat" | tail -n 30
echo "rc ${PIPESTATUS[0]}"
tar czf "${OUT:-/tmp/out}/serving.tgz" -C "$(dirname "$R")" r
