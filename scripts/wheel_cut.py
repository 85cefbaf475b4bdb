"""Cut parts out of a wheel so that it fits a device call's 64 MiB (shared by the prepare_* scripts).

pip checks a wheel's RECORD against its files, so the RECORD is rewritten to list what is left; the cut
wheel installs as any other. Members over ``lzma_over_bytes`` may be stored LZMA-compressed instead of
deflated (ray: 37.8 -> 28.2 MiB with its three native binaries so stored): pip reads wheels with
Python's zipfile, which reads LZMA members (checked: pip installs such a ray wheel, the files
byte-identical, and the H200 call of 2026-12-03 ran ray from it).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def cut(wheel: Path, drop: Callable[[str], bool], lzma_over_bytes: int | None = None) -> tuple[float, float]:
    """Rewrite ``wheel`` in place without the members ``drop`` selects (members larger than
    ``lzma_over_bytes`` LZMA-compressed); returns MiB before and after."""
    before = wheel.stat().st_size
    tmp = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        lines = []
        for info in src.infolist():
            if info.filename == record_name or drop(info.filename):
                continue
            data = src.read(info)
            big = lzma_over_bytes is not None and info.file_size > lzma_over_bytes
            dst.writestr(info, data, compress_type=zipfile.ZIP_LZMA if big else zipfile.ZIP_DEFLATED)
            lines.append(_record_line(info.filename, data))
        dst.writestr(record_name, "\n".join([*lines, f"{record_name},,"]) + "\n")
    tmp.replace(wheel)
    return before / 2**20, wheel.stat().st_size / 2**20
