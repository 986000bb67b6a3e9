"""The built wheel carries its prompts and data and no top-level `evals`, and starts outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from paperbot.llm.prompts import PLACEHOLDERS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("paperbot-*.whl")
    return built


def test_wheel_ships_every_prompt_and_data_file_and_no_evals_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in PLACEHOLDERS:
        assert f"paperbot/prompt_templates/{prompt}.txt" in names
    assert "paperbot/data/prices.json" in names
    assert not [n for n in names if n.startswith("evals/")]
    top_level = {n.split("/")[0] for n in names if not n.startswith("paperbot-")}
    assert top_level == {"paperbot"}


def test_installed_wheel_loads_its_own_prompts_outside_the_checkout(wheel: Path, tmp_path: Path,
                                                                   models_dir: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import paperbot, paperbot.llm.prompts as p\n"
        "from paperbot import PaperBot, Settings\n"
        "bot = PaperBot(Settings(data_dir='store'))\n"
        "print(paperbot.__file__)\n"
        "print(p.DEFAULT_PROMPTS_DIR)\n"
        "print(sorted(bot.prompts) == sorted(p.PLACEHOLDERS))\n"
    )
    # -S: no .pth files, so the checkout's editable install cannot shadow the unpacked wheel; the venv's
    # site-packages still provides the dependencies.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"],
                                                       sysconfig.get_paths()["platlib"]]),
           # Absolute: the environment's may be relative to the checkout, and this runs from another folder.
           "PAPERBOT_MODELS_DIR": str(models_dir.resolve())}
    done = subprocess.run([sys.executable, "-S", "-c", script], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    module_file, prompts_dir, all_loaded = done.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert Path(prompts_dir).is_relative_to(site)
    assert all_loaded == "True"


def test_load_papers_takes_a_single_path(tmp_path: Path) -> None:
    from paperbot.ingest.loaders import load_papers

    corpus = tmp_path / "one.jsonl"
    corpus.write_text('{"id": "a", "title": "A title", "abstract": "An abstract sentence."}\n')
    for given in (str(corpus), corpus):
        loaded = load_papers(given)
        assert [p.id for p in loaded.papers] == ["a"]
