"""evalgate.preload: imports on a thread of their own, safe against a fork taken meanwhile and a thread that cannot
start. (The imports a run starts ahead are tested in tests/providers/test_preload.py and tests/test_startup.py.)"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from evalgate import preload

SLOW_MODULE = """
import time
from pathlib import Path

Path(__file__).with_name("started").write_text("yes")  # the thread is inside this import now
time.sleep(0.5)
DONE = True
"""


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def slow_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "evalgate_slow_probe.py").write_text(SLOW_MODULE)
    yield tmp_path
    sys.modules.pop("evalgate_slow_probe", None)


@pytest.mark.slow  # waits out a half-second import
@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
def test_a_fork_taken_during_an_import_ahead_gives_the_child_a_finished_module(slow_module) -> None:
    """Without the fork waiting, the child would hold the module's import lock of a thread it does not have, and
    its own import of the module would wait forever (here: until the alarm kills it)."""
    preload.import_ahead(["evalgate_slow_probe"], name="evalgate-test-import")
    wait_for(lambda: (slow_module / "started").exists())
    assert "evalgate_slow_probe" not in sys.modules or not getattr(
        sys.modules["evalgate_slow_probe"], "DONE", False
    )
    pid = os.fork()
    if pid == 0:  # the child: import the module the parent's thread was importing, within 5 s
        signal.alarm(5)
        try:
            import evalgate_slow_probe

            os._exit(0 if evalgate_slow_probe.DONE else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sys.modules["evalgate_slow_probe"].DONE


def test_a_thread_that_cannot_start_leaves_the_imports_to_their_code(monkeypatch) -> None:
    def refuse(self) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    preload.import_ahead(["json"], name="evalgate-test-import")  # no exception: the run goes on


def test_nothing_to_import_starts_no_thread(monkeypatch) -> None:
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name))
    preload.import_ahead([], name="evalgate-test-import")
    assert started == []
    preload.import_ahead(["json"], name="evalgate-test-import")  # the stand-in sees a start
    assert started == ["evalgate-test-import"]
