"""Ctrl-C while the `minicnn` command is still starting (importing NumPy and the engine): one
line and exit status 130, never a traceback. Active only when the command line imports the
package (`minicnn ...` or `python -m minicnn.cli`); `import minicnn` in a script or a notebook is
left alone. `minicnn.cli.main` calls `restore()` as its first step: from there on Ctrl-C is a
KeyboardInterrupt again, which main turns into its own one-line messages.
"""
import os
import signal
import sys
import threading


def _interrupted(signum, frame):
    # os._exit, not sys.exit: an exception raised inside a C extension's import (NumPy's) turns
    # into a long ImportError; nothing has been written yet, so there is nothing to clean up
    os.write(2, b"minicnn: interrupted before any result was written\n")
    os._exit(130)


def _started_as_command():
    """`minicnn ...` (the console script) or `python -m minicnn.cli ...`."""
    argv = sys.orig_argv
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else None
    return module == "minicnn.cli" or os.path.basename(sys.argv[0] if sys.argv else "") == "minicnn"


_installed = (_started_as_command() and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
if _installed:
    signal.signal(signal.SIGINT, _interrupted)


def restore():
    if _installed and signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
