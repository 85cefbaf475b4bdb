#!/usr/bin/env bash
# The committed report of the validation stores: docs/report/index.html, its figures (PNG, SVG, PDF) and a
# screenshot. CPU only, ~30 s on 2 cores. Needs Debian's chromium for the screenshot (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/report
rm -rf "$out/figures"
mkdir -p "$out"
dbs=()
while IFS= read -r db; do dbs+=(--db "$db"); done < <(find docs/validation \( -name '*.db' -o -name '*.db.gz' \) | sort)
cals=()
for cal in docs/validation/calibration/*.yaml; do cals+=(--calibration "$cal"); done
python3 -m joulebench report "${dbs[@]}" "${cals[@]}" --out "$out/index.html" --figures "$out/figures" \
  --title "joulebench: the validation stores (docs/validation)"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars --window-size=1300,1800 \
  --screenshot="$out/screenshot.png" "file://$PWD/$out/index.html" 2>/dev/null
echo "written: $out/index.html, $out/figures/, $out/screenshot.png"
