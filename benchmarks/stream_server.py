"""Run the local streaming OpenAI-compatible test server in its own process (for client benchmarks).

python benchmarks/stream_server.py --port 8000 [--itl-ms 0] [--ttft-ms 0] [--tokens-per-chunk 1]
"""

from __future__ import annotations

import argparse
import asyncio

from joulebench.serving.testserver import ServerConfig, serve_forever


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--itl-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    args = parser.parse_args()
    config = ServerConfig(
        ttft_s=args.ttft_ms / 1e3, itl_s=args.itl_ms / 1e3, tokens_per_chunk=args.tokens_per_chunk
    )
    try:
        asyncio.run(
            serve_forever(
                config,
                args.host,
                args.port,
                on_ready=lambda port: print(f"listening on {args.host}:{port}", flush=True),
            )
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
