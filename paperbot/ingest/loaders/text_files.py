"""Read a text file as UTF-8 with an error that names the file and the byte that is wrong."""

from __future__ import annotations

from pathlib import Path

from paperbot.errors import CorpusError

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32 first: its little-endian mark starts with UTF-16's.
_OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
               (b"\xfe\xff", "UTF-16"))


def check_encoding(path: Path, data: bytes) -> None:
    """Refuse UTF-16/32 and binary files up front: a few of their bytes may decode as UTF-8 and read as nonsense
    ("H\\x00e\\x00a\\x00v\\x00y") instead of failing."""
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            raise CorpusError(str(path), f"the file is {name} (it starts with a {name} byte-order mark), not UTF-8",
                              f"re-save it as UTF-8, e.g. iconv -f {name.lower()} -t utf-8")
    nul = data.find(b"\x00")
    if nul != -1:
        line = data[:nul].count(b"\n") + 1
        raise CorpusError(f"{path}:{line}", f"NUL byte at offset {nul}: UTF-16 text without a byte-order mark, or a "
                          "binary file", "re-save it as UTF-8 text, e.g. iconv -f utf-16 -t utf-8")


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    check_encoding(path, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}:{line}",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
        ) from exc
