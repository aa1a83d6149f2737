"""How a run's process ends: what the interpreter does at exit, minus freeing every object one by one.

After a run that imported ZenML and MLflow, the interpreter's teardown (modules cleared, objects freed
module by module) takes ~2 s and changes nothing outside the process: Python does not promise `__del__`
for objects still alive at exit. Also how a forked process (a resident runner's child, a forked sweep
job) ends, since it must leave with `os._exit`. Standard library only: the resident runner imports it.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def run_main(main: Any) -> int:
    """Run `main()` as a program's main function, then what the interpreter does at exit before tearing
    itself down (join non-daemon threads; run the atexit handlers, where logging, MLflow and ZenML flush
    and weakref finalizers run; flush stdout and stderr). Returns the exit code the program would have."""
    import atexit
    import threading

    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exit_code(exc.code)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream must not change the exit code
            pass
    return code


def exit_without_teardown(main: Any) -> None:
    """Run `main()` (`run_main`) and end the process with its exit code, skipping the teardown."""
    os._exit(run_main(main))


def exit_code(value: object) -> int:
    """The exit status `sys.exit(value)` gives: None 0, an int its low byte, anything else printed and 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1
