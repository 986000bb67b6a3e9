"""The package's layering rule, read from the source: imports point down the layers, and each outside library has one
adapter package that imports it."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "paperbot"

# Lowest first. A module belongs to the longest prefix listed; it may import its own layer and the layers below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("values", ("paperbot.types", "paperbot.config", "paperbot.errors", "paperbot.ports", "paperbot.summary_types",
                "paperbot.text")),
    ("adapters", ("paperbot.store", "paperbot.llm", "paperbot.ingest.loaders", "paperbot.support")),
    ("use cases", ("paperbot.ingest", "paperbot.retrieval", "paperbot.answer", "paperbot.summaries")),
    ("facade", ("paperbot.bot", "paperbot")),
    ("front ends", ("paperbot.app", "paperbot.cli", "paperbot.__main__")),
)
ADAPTERS = LAYERS[1][1]

# The outside libraries that talk to the world (a database, a model server, a file format, a terminal, a UI) and
# the one package allowed to import each. General-purpose libraries (numpy, scipy, pydantic) are not listed.
OWNERS: dict[str, tuple[str, ...]] = {
    "chromadb": ("paperbot.store",),
    "filelock": ("paperbot.store",),
    "openai": ("paperbot.llm",),
    "tenacity": ("paperbot.llm",),
    "httpx2": ("paperbot.llm",),
    "tiktoken": ("paperbot.llm",),
    "llama_cpp": ("paperbot.llm",),
    "gradio": ("paperbot.app",),
    "starlette": ("paperbot.app",),
    "typer": ("paperbot.cli",),
    "click": ("paperbot.cli",),
    "rich": ("paperbot.cli",),
    "pypdf": ("paperbot.ingest.loaders",),
    "bibtexparser": ("paperbot.ingest.loaders",),
    "defusedxml": ("paperbot.ingest.loaders",),
    "pylatexenc": ("paperbot.ingest.loaders",),
    "nupunkt": ("paperbot.text",),
    "Stemmer": ("paperbot.text",),
    "slugify": ("paperbot.text",),
    "pydantic_settings": ("paperbot.config",),
    "tokenizers": ("paperbot.support",),
    # Two separate models run on onnxruntime: MiniLM, the embedder Chroma calls (store), and the optional NLI
    # support scorer a user points to (support). Neither package imports the other.
    "onnxruntime": ("paperbot.store", "paperbot.support"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in the file, lazy ones inside functions included, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "paperbot":
                found += [(node.lineno, f"paperbot.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def _owner(module: str, prefixes: tuple[str, ...]) -> str | None:
    matches = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return max(matches, key=len, default=None)


def layer_of(module: str) -> int:
    best = max(((len(p), rank) for rank, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if module == p or module.startswith(p + ".")), default=None)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add its package to LAYERS in {Path(__file__).name}")
    return best[1]


def _known_module(module: str) -> bool:
    """The imported name is a module or a package of paperbot (not a name imported from one)."""
    rel = Path(*module.split(".")[1:]) if module != "paperbot" else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _resolve(module: str) -> str:
    # `from paperbot import PaperBot` names an attribute, not a module: it is the package's own facade import.
    return module if _known_module(module) else module.rsplit(".", 1)[0]


SOURCES = sorted(PACKAGE.rglob("*.py"))


def wrong_way_imports() -> list[str]:
    wrong = []
    for path in SOURCES:
        here = _module_name(path)
        rank = layer_of(here)
        for line, imported in _imports(path):
            if not imported.startswith("paperbot"):
                continue
            target = _resolve(imported)
            there = layer_of(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} ({here}, {LAYERS[rank][0]})"
            if there > rank:
                wrong.append(f"{where} imports {target} ({LAYERS[there][0]})")
            elif rank == there == 1 and _owner(here, ADAPTERS) != _owner(target, ADAPTERS):
                wrong.append(f"{where} imports another adapter, {target}: pass it in from the facade instead")
    return wrong


def foreign_importers() -> list[str]:
    wrong = []
    for path in SOURCES:
        here = _module_name(path)
        for line, imported in _imports(path):
            library = imported.split(".")[0]
            owners = OWNERS.get(library)
            if owners is not None and _owner(here, owners) is None:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {library}, which only "
                             f"{' or '.join(owners)} may import")
    return wrong


def test_every_module_has_a_layer():
    for path in SOURCES:
        layer_of(_module_name(path))


def test_imports_point_down_the_layers():
    assert wrong_way_imports() == []


def test_each_outside_library_is_imported_by_its_adapter_only():
    assert foreign_importers() == []


def test_every_owned_library_is_really_imported_by_its_owner():
    """An entry in OWNERS that nothing imports would make the check above pass vacuously for it."""
    imported = {name.split(".")[0] for path in SOURCES for _, name in _imports(path)}
    assert sorted(set(OWNERS) - imported) == []


@pytest.mark.parametrize(("module", "imported", "expected"), [
    ("paperbot.llm.chat", "paperbot.answer.budget", "wrong"),       # an adapter reaching up into a use case
    ("paperbot.text.terms", "paperbot.store.stopwords", "wrong"),   # a value reaching into an adapter
    ("paperbot.store.lexical", "paperbot.llm.tokens", "wrong"),     # one adapter into another
    ("paperbot.answer.answerer", "paperbot.retrieval.retriever", "ok"),
    ("paperbot.bot", "paperbot.store.vectors", "ok"),
    ("paperbot.cli.commands", "paperbot.bot", "ok"),
])
def test_the_rule_catches_what_it_should(tmp_path, monkeypatch, module, imported, expected):
    """The check is not vacuous: a planted wrong-way import is reported, a right-way one is not."""
    fake = tmp_path / "paperbot" / Path(*module.split(".")[1:]).with_suffix(".py")
    fake.parent.mkdir(parents=True)
    fake.write_text(f"import {imported}\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "SOURCES", [fake])
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "paperbot")
    monkeypatch.setattr(sys.modules[__name__], "_known_module", lambda name: True)
    assert (wrong_way_imports() != []) == (expected == "wrong")
