"""Options that several commands take, each defined once: the same name, type and help text everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from paperbot.types import Mode

# Used as `as_json: AsJson = False`, `mode: AnswerMode = None`: the default stays with the command.
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
AnswerMode = Annotated[Optional[Mode], typer.Option(
    "--mode", help="llm, extractive, or auto: llm when an API or local model is configured (default: env "
                   "PAPERBOT_ANSWER_MODE, else auto)")]
ChatModel = Annotated[Optional[str], typer.Option("--model", help="chat model (env PAPERBOT_CHAT_MODEL)")]
PaperId = Annotated[str, typer.Argument(help="a paper id from `paperbot papers`", metavar="PAPER_ID")]

# The eval harness's commands (eval, tune).
DatasetsDir = Annotated[Optional[Path], typer.Option(envvar="PAPERBOT_DATASETS_DIR", show_envvar=True,
                                                     help="folder holding scifact/, pubmedqa/, scitldr/")]
Split = Annotated[Optional[str], typer.Option(help="BEIR folder split: queries_SPLIT.jsonl, qrels_SPLIT.tsv")]
Limit = Annotated[Optional[int], typer.Option(min=1, help="only the first N items (smoke runs)")]
MaxCorpus = Annotated[Optional[int], typer.Option(min=0, help="BEIR sets: keep the gold papers plus N others")]
WorkDir = Annotated[Optional[Path], typer.Option(help="where eval stores are built and reused (default ./eval-data, "
                                                      "or --data-dir)")]
EvalCollection = Annotated[Optional[str], typer.Option("--collection", help="an existing collection in --work-dir "
                                                                           "holding the set's papers")]
