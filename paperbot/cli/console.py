"""A rich Console built on first use, so that commands printing plain text to a pipe never import rich."""

from __future__ import annotations

import os
import sys
from functools import cached_property
from typing import Any

# What makes rich treat a stream that is not a terminal as one (rich.console.Console.is_terminal).
_FORCING = ("FORCE_TERMINAL", "TTY_COMPATIBLE", "FORCE_COLOR")


class LazyConsole:
    """Stands in for rich.console.Console(stderr=..., **options): every attribute is the Console's, made on first
    use. rich costs about a tenth of a second to import, a third of what `paperbot papers | ...` may take."""

    def __init__(self, *, stderr: bool = False, **options: Any) -> None:
        self._stderr = stderr
        self._options = options

    @cached_property
    def _console(self) -> Any:
        from rich.console import Console

        return Console(stderr=self._stderr, **self._options)

    @property
    def is_terminal(self) -> bool:
        # A stream that is no terminal is none to rich either, unless the environment forces it: known without rich.
        stream = sys.stderr if self._stderr else sys.stdout
        isatty = getattr(stream, "isatty", None)
        try:
            plain = isatty is None or not isatty()
        except ValueError:  # a closed stream
            plain = True
        if plain and not any(name in os.environ for name in _FORCING) and "_console" not in self.__dict__:
            return False
        return self._console.is_terminal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # `console.width = 120` must reach the Console, as it would on a rich Console (evals/main.py widens it).
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._console, name, value)
