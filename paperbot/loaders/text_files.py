"""Read a text file as UTF-8 with an error that names the file and the byte that is wrong."""

from __future__ import annotations

from pathlib import Path

from paperbot.errors import CorpusError


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}:{line}",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
        ) from exc
