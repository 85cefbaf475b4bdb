"""Run the loopback OpenAI-compatible streaming server in its own process (for client benchmarks).

python benchmarks/stream_server.py --port 8000 [--itl-ms 0] [--ttft-ms 0] [--tokens-per-chunk 1]

The server itself lives with the tests (tests/loopback_server.py), outside the installed package.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loopback_server import main  # noqa: E402

if __name__ == "__main__":
    main()
