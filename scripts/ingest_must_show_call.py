"""Land one returned must-show device call (scripts/must_show_call.sh) in docs/validation/serving/run_f/.

Why a script: every call returns the same files (card.csv, must_show.log, server.log, the cards' stores),
flat in $OUT or in one sub-folder per part of the call (OUT=$OUT/serve, OUT=$OUT/probe, ...). Landing
them by hand, call after call, is where a store with fewer points could overwrite a fuller one; this
script refuses that (merge such stores with `joulebench results merge`).

    python3 scripts/ingest_must_show_call.py CALL_N FILES_AT [--run-dir docs/validation/serving/run_f]

Per card store (serving-<card>.db), the one kept is the one with the most points among FILES_AT and its
sub-folders: the parts of one call ran on one machine, each resuming from the store the one before left,
so the last part's store is a superset of the others whatever its folder is called. A store whose points
equal the committed one's is left alone; a changed one is vacuumed and gzipped without a name or time
stamp, so the same store gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from joulebench.store import Store

RUN_F = Path("docs/validation/serving/run_f")
#: returned file -> its name under callN/ ({n}: the call number)
LOGS = {"card.csv": "card_{n}.csv", "must_show.log": "measure_serving_must_show_{n}.log", "server.log": "server.log"}


def _unpacked(path: Path, into: Path) -> Path:
    """A plain, vacuumed copy of a returned store (gzipped or not) under ``into``: what gets committed."""
    out = into / path.name.removesuffix(".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    con = sqlite3.connect(out)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("VACUUM")
    con.close()
    return out


def _points(db: Path) -> list[tuple[str, str, float]]:
    """Each stored point's key, status and time (the store reads ``.db.gz`` itself): a call that measured
    something added a point or re-ran a failed one, so equal lists mean an unchanged store."""
    with Store.open_read(db) as store:
        return [(p.key, p.status, p.created_at) for p in store.points()]


def parts(files_at: Path) -> list[str]:
    """The call's parts: its flat files ("") and each sub-folder."""
    return ["", *sorted(p.name for p in files_at.iterdir() if p.is_dir())]


def returned_stores(files_at: Path) -> dict[str, tuple[Path, list[tuple[str, str, float]]]]:
    """Each card's store returned by the call, the one with the most points (the last part's), with its
    points (read once: a returned store is gzipped and opening it unpacks it)."""
    stores: dict[str, tuple[Path, list[tuple[str, str, float]]]] = {}
    for part in parts(files_at):
        folder = files_at / part
        for path in sorted(folder.glob("serving-*.db")) + sorted(folder.glob("serving-*.db.gz")):
            name, points = path.name.removesuffix(".gz"), _points(path)
            if name not in stores or len(points) > len(stores[name][1]):
                stores[name] = (path, points)
    return stores


def ingest(call_n: int, files_at: Path, run_dir: Path = RUN_F) -> tuple[list[str], bool]:
    """Copy the call's logs into ``run_dir/callN/`` and land its stores; (messages, every store landed)."""
    dest = run_dir / f"call{call_n}"
    if dest.exists():
        raise FileExistsError(f"call {call_n}: {dest} already exists")
    for part in parts(files_at):
        folder = files_at / part
        for name, target in LOGS.items():
            if (folder / name).is_file():
                (dest / part).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, dest / part / target.format(n=call_n))
    messages, landed = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for name, (path, new) in returned_stores(files_at).items():
            committed = run_dir / f"{name}.gz"
            if committed.exists():
                old = _points(committed)
                if old == new:
                    messages.append(f"call {call_n}: {name} unchanged")
                    continue
                if len(new) < len(old):
                    messages.append(f"call {call_n}: the returned {name} holds {len(new)} points, the "
                                    f"committed one {len(old)}; not replaced (merge them)")
                    landed = False
                    continue
                messages.append(f"call {call_n}: {name} {len(old)} -> {len(new)} points")
            else:
                messages.append(f"call {call_n}: new store {name}, {len(new)} points")
            with open(_unpacked(path, Path(tmp)), "rb") as src, open(committed, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as dst:
                    shutil.copyfileobj(src, dst)
    return messages, landed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("call_n", type=int)
    parser.add_argument("files_at", type=Path)
    parser.add_argument("--run-dir", type=Path, default=RUN_F)
    args = parser.parse_args(argv)
    if not args.files_at.is_dir():
        print(f"error: files_at {args.files_at}: not a folder", file=sys.stderr)
        return 2
    try:
        messages, landed = ingest(args.call_n, args.files_at, args.run_dir)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(messages) or f"call {args.call_n}: no store returned")
    print(f"next: the call's command and result in {args.run_dir}/measure_serving.cmd, then "
          "python3 scripts/validation_tables.py --write")
    return 0 if landed else 1


if __name__ == "__main__":
    sys.exit(main())
