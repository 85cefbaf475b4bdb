# Source at the start of every device command: installs the carried wheels (folder $WHEELS, default .whl)
# into /tmp/site and puts them and this checkout's src/ first on the Python path.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${WHEELS:-.whl}"/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src
export PATH=/tmp/site/bin:$PATH
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p /tmp/site/bin
printf '#!/bin/sh\nexec python3 -m joulebench "$@"\n' > /tmp/site/bin/joulebench && chmod +x /tmp/site/bin/joulebench

# A device call brings back at most 8 files from $OUT, 16 MiB each (the static store was the 9th on
# 2026-12-03 and was lost): end a command with `pack_out`, which folds each SQLite store's WAL into it,
# gzips a store over 8 MiB (read back as .db.gz by Store.open_read) and, when $OUT holds more than 8
# files, puts them all into $OUT/results.tgz.
pack_out() {
  local dir=${OUT:-./out} db
  for db in "$dir"/*.db "$dir"/*/*.db; do
    [ -f "$db" ] || continue
    python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()" "$db"
    [ "$(stat -c %s "$db")" -gt 8388608 ] && gzip -9 "$db"
  done
  [ "$(find "$dir" -type f | wc -l)" -gt 8 ] || return 0
  (cd "$dir" && tar czf /tmp/results.tgz . && find . -mindepth 1 -delete && mv /tmp/results.tgz results.tgz)
}
