"""`python -m paperbot.llm.llama_server [--no_repack] ARGS`: llama_cpp.server, optionally without weight repacking.

Weight repacking (llama.cpp's "extra buffer types") picks the CPU's fastest kernels, AMX on recent Xeons. In a
VM that advertises AMX without enabling it the first batched matrix product dies with SIGILL (seen here: a 2-core
Sapphire Rapids guest); --no_repack keeps every weight in the plain CPU buffer, which such machines can run.
Run as a subprocess by paperbot/llm/local.py; nothing in paperbot imports llama_cpp.
"""

from __future__ import annotations

import sys


def _without_repacking() -> None:
    import llama_cpp.llama_cpp as bindings

    defaults = bindings.llama_model_default_params

    def params():
        value = defaults()
        value.use_extra_bufts = False
        return value

    bindings.llama_model_default_params = params  # llama_cpp.Llama reads it at model load


def main() -> None:
    if "--no_repack" in sys.argv:
        sys.argv.remove("--no_repack")
        _without_repacking()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
