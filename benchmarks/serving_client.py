"""Load-client performance against the local streaming server (separate process) on this machine.

Prints dispatch lateness (send - target) at 500 req/s, whether 2,000 req/s is sustained (achieved
send rate over the schedule, lateness p99, lateness drift between the first and last tenth), and the
closed-loop ceiling (burst with a concurrency cap). The bar (issues 5 and 9): lateness p99 <= 1 ms
at 500 req/s and >= 2,000 req/s sustained without falling behind, on 2 cores, server included. The
client is aiohttp since it met that bar; its figures beside the hand-written HTTP/1.1 transport it
replaced are in serving/client.py's docstring.

    python benchmarks/serving_client.py [--seconds 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from joulebench.serving.arrivals import parse_arrival, schedule
from joulebench.serving.client import ClientConfig, run_load
from joulebench.serving.prompts import parse_lengths, parse_prompts

HERE = Path(__file__).resolve().parent


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "stream_server.py"), "--port", str(port)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "listening on ..."
    return proc


def run(url: str, arrival: str, n: int, cap: int | None = None) -> dict[str, float]:
    specs = parse_prompts("synthetic:32").build(n, parse_lengths("4", "o"), seed=0)
    targets = schedule(parse_arrival(arrival), n)
    started = time.perf_counter()
    result = run_load(ClientConfig(url, "bench", max_concurrency=cap), specs, targets)
    wall = time.perf_counter() - started
    sends = np.array([r.send_s for r in result.records if r.send_s is not None])
    late = np.array(
        [
            r.send_s - max(r.target_s, r.released_s or r.target_s)
            for r in result.records
            if r.send_s is not None
        ]
    )
    tenth = max(1, late.size // 10)
    return {
        "requests": n,
        "ok": sum(r.ok for r in result.records),
        "wall_s": wall,
        "send_rate_per_s": (n - 1) / (sends.max() - sends.min()) if n > 1 else 0.0,
        "completion_rate_per_s": n / (max(r.end_s or 0 for r in result.records) - result.t0_s),
        "lateness_p50_ms": float(np.median(late) * 1e3),
        "lateness_p99_ms": float(np.percentile(late, 99) * 1e3),
        "lateness_max_ms": float(late.max() * 1e3),
        "drift_ms": float((late[-tenth:].mean() - late[:tenth].mean()) * 1e3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=1, help="runs per rate (figures vary on a loaded box)")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    server = start_server(args.port)
    url = f"http://127.0.0.1:{args.port}"
    print(
        f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, server: local process, "
        f"4 output tokens a request, {args.seconds} s a rate"
    )
    try:
        for transport in ["aiohttp"]:  # the label of the printed lines
            run(url, "fixed:10ms", 50)  # warm up
            for rate in (500, 2000):
                for _ in range(args.repeats):
                    n = int(rate * args.seconds)
                    r = run(url, f"fixed:{1.0 / rate}s", n)
                    print(
                        f"[{transport}] {rate:>5} req/s x {n}: ok {r['ok']}/{n}, "
                        f"sent at {r['send_rate_per_s']:.0f}/s, completed at {r['completion_rate_per_s']:.0f}/s, "
                        f"lateness p50 {r['lateness_p50_ms']:.3f} ms "
                        f"p99 {r['lateness_p99_ms']:.3f} ms max {r['lateness_max_ms']:.2f} ms, "
                        f"drift {r['drift_ms']:+.3f} ms",
                        flush=True,
                    )
            r = run(url, "burst", 8000, cap=64)
            print(f"[{transport}] closed loop (burst, 64 in flight): {r['completion_rate_per_s']:.0f} req/s")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
