"""Import every module of the installed `postback` package alone, each in a fresh interpreter.

A module that works only when another one happens to be imported first (an import cycle,
a missing runtime dependency, a side effect it relies on) fails here. Standard library
only, so it runs in a venv holding nothing but the runtime dependencies:

    python scripts/import_each_module.py [--jobs N] [--timeout SECONDS]

Each child runs with `python -I` (isolated: no current directory, no PYTHONPATH, no user
site), so it checks the package as installed, not the checkout's src/. A `__main__` module
runs the program when imported, so it is run instead: `python -I -m <package> --help`, which
must exit 0. Exit 1 when any module fails, with the tail of its stderr.

Not listed: postback/store/migrations/ is not a package (no __init__.py). Alembic loads
its env.py and versions/*.py by file path; env.py runs the migrations when executed and the
version files' names are not valid module names. `postback migrate` exercises them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pkgutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

PACKAGE = "postback"
STDERR_TAIL_LINES = 15


@dataclass(frozen=True, slots=True)
class Result:
    module: str
    ok: bool
    detail: str = ""


def package_paths(package: str) -> list[str]:
    """Where the package lies, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not an installed package for {sys.executable}")
    return list(spec.submodule_search_locations)


def walk_modules(paths: Sequence[str], prefix: str) -> Iterator[str]:
    """Every module and package under `paths`, found on disk (nothing is imported here)."""
    for info in pkgutil.iter_modules(list(paths)):
        name = prefix + info.name
        yield name
        if info.ispkg:
            location = os.path.join(getattr(info.module_finder, "path", ""), info.name)
            yield from walk_modules([location], name + ".")


def import_alone(module: str, timeout: float) -> Result:
    if module.rpartition(".")[2] == "__main__":
        command = [sys.executable, "-I", "-m", module.rpartition(".")[0], "--help"]
    else:
        command = [sys.executable, "-I", "-c", f"import {module}"]
    try:
        done = subprocess.run(  # noqa: S603 - the interpreter itself and a module name
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return Result(module, False, f"timed out after {timeout:.0f} s" + tail(stderr))
    if done.returncode != 0:
        return Result(module, False, f"exit code {done.returncode}" + tail(done.stderr))
    return Result(module, True)


def tail(stderr: str) -> str:
    """The last lines of a child's stderr, indented, each on a line of its own."""
    lines = stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    return "".join("\n    " + line for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel imports")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per module")
    args = parser.parse_args(argv)

    paths = package_paths(PACKAGE)
    modules = [PACKAGE, *sorted(walk_modules(paths, PACKAGE + "."))]
    print(f"importing {len(modules)} modules of {PACKAGE} ({', '.join(paths)}) one by one")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda module: import_alone(module, args.timeout), modules))
    failures = [result for result in results if not result.ok]
    for failure in failures:
        print(f"FAILED import {failure.module}: {failure.detail}")
    elapsed = time.monotonic() - started
    print(
        f"{len(modules) - len(failures)} of {len(modules)} modules import alone, "
        f"{len(failures)} failed ({elapsed:.1f} s, {args.jobs} at a time)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
