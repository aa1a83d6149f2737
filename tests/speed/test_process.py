"""How a run's process ends (olist_pipeline/speed/process.py): everything the interpreter does at exit
except its object-by-object teardown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from olist_pipeline.speed import process

_PROGRAM = """
import atexit, sys, threading, time
from olist_pipeline.speed import process
out = sys.argv[1]

def main():
    atexit.register(lambda: open(out, "a").write("atexit\\n"))
    threading.Thread(target=lambda: (time.sleep(0.3), open(out, "a").write("thread\\n"))).start()
    print("buffered, no newline", end="")
    if sys.argv[2] == "raise":
        raise ValueError("boom")
    sys.exit(int(sys.argv[2]))

process.exit_without_teardown(main)
"""


@pytest.mark.parametrize(("how", "code"), [("0", 0), ("3", 3), ("raise", 1)])
def test_exit_without_teardown_keeps_what_exit_does(tmp_path, how, code):
    """`python -m olist_pipeline` ends this way (skipping only the interpreter's object-by-object teardown):
    the exit code, threads joined, atexit handlers run, buffered output flushed, tracebacks printed."""
    out = tmp_path / "events"
    result = subprocess.run([sys.executable, "-c", _PROGRAM, str(out), how], capture_output=True, text=True, timeout=60)
    assert result.returncode == code
    assert result.stdout == "buffered, no newline"
    assert out.read_text() == "thread\natexit\n"
    assert ("ValueError: boom" in result.stderr) == (how == "raise")


@pytest.mark.parametrize(("value", "code"), [(None, 0), (0, 0), (3, 3), (256 + 7, 7), ("a message", 1)])
def test_exit_code_is_the_one_sys_exit_gives(value, code, capsys):
    assert process.exit_code(value) == code
    assert ("a message" in capsys.readouterr().err) == isinstance(value, str)
