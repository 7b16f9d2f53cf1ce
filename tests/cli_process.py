"""The CLI in a process of its own, forked from a server process that has already imported it.

The CLI tests run ``pioneers`` as a separate process (its exit code, its output, its files, its own file
locks), and the write-safety tests kill an ingest in mid-write (SIGKILL, at every step) and run ingests at
the same time: about sixty processes in all. ``python -m cli`` costs a new interpreter and the imports of
pandas, pyarrow and the project (a second or more each on a loaded machine) before the command starts.
Here each run is forked from a multiprocessing forkserver that imported `cli`, the storage layer and the
statistics once, and read the published files every ingest reads (tests/cli_warm.py); the child then runs
``cli.main`` exactly as ``python -m cli`` does (same arguments, same exit code, its own process, its own
file locks). That the entry point itself starts is tested with real ``python -m cli`` runs
(tests/test_cli_errors.py, tests/test_foundation_store.py::test_cli_build_demo_then_info, and every
server the tests start).
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["cli", "data.ingest", "data.store", "data.summary", "analysis.estimates",
                                  "matching.balance", "tests.cli_process", "tests.cli_warm"])


@dataclass
class Run:
    """What `subprocess.run` reports: a killed process's returncode is minus its signal."""
    returncode: int
    stdout: str
    stderr: str


def _child(argv: list[str], env: dict[str, str], cwd: str | None, out: str, err: str,
           kill_before_rename: int | None) -> None:
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(handle, fd)
        os.close(handle)
    renames = 0
    if kill_before_rename is not None:
        import signal

        def hook(event, _args):
            nonlocal renames
            if event == "os.rename":  # os.rename and os.replace both raise it, before the system call
                renames += 1
                if renames == kill_before_rename:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.addaudithook(hook)  # a hook cannot be removed: this process ends with the command
    import cli

    code = cli.main(argv)
    if kill_before_rename is not None:
        print(f"renames={renames}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no atexit handlers or finalisers inherited from the server process


class Started:
    """A CLI process running in the background (what `subprocess.Popen` gives)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, kill_before_rename: int | None = None,
                 cwd: Path | str | None = None):
        self._dir = tempfile.TemporaryDirectory(prefix="cli-")
        self._out, self._err = (str(Path(self._dir.name) / name) for name in ("out", "err"))
        for path in (self._out, self._err):
            Path(path).touch()
        self._process = _CONTEXT.Process(target=_child, args=(list(argv), dict(env or {}), cwd and str(cwd), self._out,
                                                              self._err, kill_before_rename))
        self._process.start()

    def wait(self, timeout: float = 300) -> Run:
        self._process.join(timeout)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()
            raise TimeoutError(f"the CLI process did not end within {timeout} s")
        run = Run(self._process.exitcode, Path(self._out).read_text(), Path(self._err).read_text())
        self._process.close()
        self._dir.cleanup()
        return run


def run(argv: list[str], env: dict[str, str] | None = None, kill_before_rename: int | None = None,
        cwd: Path | str | None = None, timeout: float = 300) -> Run:
    """Run ``pioneers <argv>`` in a process of its own, in ``cwd``, with ``env`` added to the environment;
    wait for it.
    ``kill_before_rename=n`` SIGKILLs it just before its n-th rename (0: never; stderr ends "renames=<count>")."""
    return Started(argv, env, kill_before_rename, cwd).wait(timeout)
