"""Start a Python server module with PyTorch's SDPA backend flags set first.

``python -m joulebench.serving.torch_flags --sdpa-cudnn off -m transformers.cli.transformers serve CKPT ...``

Why: `transformers serve` (like most servers) has no option for PyTorch's attention backends, and with
``sdpa`` and a mask PyTorch picks cuDNN on Hopper, which builds a graph for every new (query, key) shape
(issue 18, run_e). The flag is process-wide, so setting it before the module runs reaches the server's
worker threads too. Any other server command is started as it is given; this only wraps Python modules.
"""

from __future__ import annotations

import runpy
import sys

from joulebench.errors import UsageError

SWITCHES = {"on": True, "off": False}


def split(argv: list[str]) -> tuple[bool | None, str, list[str]]:
    """``[--sdpa-cudnn on|off] -m MODULE ARGS...`` -> (flag or None, module, its arguments)."""
    cudnn: bool | None = None
    rest = list(argv)
    if rest[:1] == ["--sdpa-cudnn"]:
        if len(rest) < 2 or rest[1] not in SWITCHES:
            raise UsageError.bad("sdpa_cudnn", rest[1] if len(rest) > 1 else "", "allowed: on, off")
        cudnn, rest = SWITCHES[rest[1]], rest[2:]
    if rest[:1] != ["-m"] or len(rest) < 2:
        raise UsageError.bad("command", " ".join(argv), "allowed: [--sdpa-cudnn on|off] -m MODULE [ARGS...]")
    return cudnn, rest[1], rest[2:]


def main(argv: list[str] | None = None) -> None:
    try:
        cudnn, module, args = split(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if cudnn is not None:
        import torch

        torch.backends.cuda.enable_cudnn_sdp(cudnn)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
