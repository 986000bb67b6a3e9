"""Processes that open one new embedded store at once take turns (the opening lock), so none fails half-way
through Chroma's schema creation; a turn that never comes ends in a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from paperbot.errors import StoreError
from paperbot.store.lock import opening_lock
from paperbot.store.vectors import connect

_OPEN_STORES = """
import json, sys, time
from pathlib import Path
from paperbot.bot import PaperBot
from paperbot.config import Settings
root, models, start, count = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
outcomes = []
for i in range(count):
    while time.time() < start + i:  # every process opens store i in the same instant
        time.sleep(0.001)
    try:
        bot = PaperBot(Settings(data_dir=root / f"store{i}", models_dir=models))
        outcomes.append(bot.vectors.count())
        bot.close()
    except Exception as exc:
        outcomes.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(outcomes))
"""

_OPEN_ONE = """
import sys
from pathlib import Path
from paperbot.store.vectors import connect
connect(None, Path(sys.argv[1]))
print("opened")
"""

_HOLD_TURN = """
import sys, time
from pathlib import Path
from paperbot.store.lock import opening_lock
with opening_lock(Path(sys.argv[1]), 5, store=Path(sys.argv[2])):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_processes_creating_one_store_at_once_all_open_it(tmp_path, models_dir):
    # Without the lock, 4 processes racing on 15 new stores failed 7 of 60 openings here ("table collections
    # already exists"); a run of this test makes 48 such openings.
    processes, stores = 4, 12
    start = time.time() + 15  # every process has imported chromadb by then, so they are in step
    running = [subprocess.Popen([sys.executable, "-c", _OPEN_STORES, str(tmp_path), str(models_dir), str(start),
                                 str(stores)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(processes)]
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert json.loads(out) == [0] * stores, out


@pytest.mark.slow
def test_opening_waits_for_the_process_that_holds_the_turn(tmp_path):
    store = tmp_path / "chroma"
    lock = tmp_path / "chroma.opening.lock"
    opener = subprocess.Popen(
        [sys.executable, "-c", _OPEN_ONE, str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with opening_lock(lock, 5, store=store):
            time.sleep(8)  # the other process has started and reached the lock by now
            assert opener.poll() is None
            assert not (store / "chroma.sqlite3").exists()  # it has created nothing while waiting its turn
        out, err = opener.communicate(timeout=120)
    finally:
        opener.kill()
    assert opener.returncode == 0 and out.strip() == "opened", err
    assert (store / "chroma.sqlite3").exists()


def test_a_turn_that_never_comes_is_a_clear_error(tmp_path):
    store = tmp_path / "chroma"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_TURN, str(tmp_path / "chroma.opening.lock"), str(store)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError) as caught:
            connect(None, store, open_timeout=0.3)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    message = str(caught.value)
    assert f"opening the Chroma store at {store}" in message and "PAPERBOT_LOCK_TIMEOUT" in message
    assert "paperbot doctor" in message and "cannot be opened" not in message
    assert not (store / "chroma.sqlite3").exists()
