#!/usr/bin/env bash
# Lands one returned must-show device call (scripts/must_show_call.sh) in docs/validation/serving/run_f/.
#
# Why a script: every call returns the same files (card.csv, must_show.log, server.log, the card's store),
# flat in $OUT or in OUT=$OUT/serve and OUT=$OUT/probe sub-folders (the card-aware command's H100 branch);
# landing them by hand, call after call, is where a store with fewer points could overwrite a fuller one.
# This script refuses that: a returned store must hold at least the committed store's points.
#
# Usage: bash scripts/ingest_must_show_call.sh CALL_N FILES_AT
#   CALL_N    the call number (folder callN/, files card_N.csv, measure_serving_must_show_N.log)
#   FILES_AT  the folder the device reply names (files_at)
# Per card store (serving-<card>.db), the one kept is the last returned in the order FILES_AT,
# FILES_AT/serve, FILES_AT/probe (a later part of one call ran on the same machine, so its store is a
# superset of the earlier one's); a store whose content equals the committed one is left as it is.
set -euo pipefail
n=${1:?CALL_N}
src=${2:?FILES_AT}
run_f=docs/validation/serving/run_f
dest=$run_f/call$n
[ -e "$dest" ] && { echo "call $n: $dest already exists"; exit 2; }
points() { sqlite3 "$1" "select count(*) from points"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A stores=()
for part in "" serve probe; do
  dir=$src${part:+/$part}
  [ -d "$dir" ] || continue
  sub=$dest${part:+/$part}
  mkdir -p "$sub"
  [ -f "$dir/card.csv" ] && cp "$dir/card.csv" "$sub/card_$n.csv"
  [ -f "$dir/must_show.log" ] && cp "$dir/must_show.log" "$sub/measure_serving_must_show_$n.log"
  [ -f "$dir/server.log" ] && cp "$dir/server.log" "$sub/server.log"
  for db in "$dir"/serving-*.db "$dir"/serving-*.db.gz; do
    [ -f "$db" ] && stores[$(basename "${db%.gz}")]=$db
  done
done
chmod -R u+w "$dest"
[ ${#stores[@]} -gt 0 ] || { echo "call $n: no store returned; logs landed in $dest"; exit 0; }
status=0
for name in "${!stores[@]}"; do
  store=${stores[$name]}
  case "$store" in
    *.gz) gunzip -c "$store" > "$tmp/$name" ;;
    *) cp "$store" "$tmp/$name" ;;
  esac
  sqlite3 "$tmp/$name" "PRAGMA journal_mode=DELETE; VACUUM;" >/dev/null
  committed=$run_f/$name.gz
  if [ -f "$committed" ]; then
    gunzip -c "$committed" > "$tmp/committed.db"
    if [ "$(sqlite3 "$tmp/committed.db" .dump | sha256sum)" = "$(sqlite3 "$tmp/$name" .dump | sha256sum)" ]; then
      echo "call $n: $name unchanged"
      continue
    fi
    old=$(points "$tmp/committed.db")
    new=$(points "$tmp/$name")
    if [ "$new" -lt "$old" ]; then
      echo "call $n: the returned $name holds $new points, the committed one $old; not replaced (merge them)"
      status=1
      continue
    fi
    echo "call $n: $name $old -> $new points"
  else
    echo "call $n: new store $name, $(points "$tmp/$name") points"
  fi
  gzip -9nc "$tmp/$name" > "$committed"
done
echo "landed: $dest; next: the call's command and result in $run_f/measure_serving.cmd, then"
echo "  python3 scripts/validation_tables.py --write"
exit $status
