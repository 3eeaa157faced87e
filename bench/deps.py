"""Install the `bench` extra's pinned packages (pyproject.toml) into this environment when they
are missing or at another version; bench/run.sh runs it before the benchmarks. The package
itself is not reinstalled (that would rebuild the native module): only the extra's pins.

    .venv/bin/python -m bench.deps
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
EXTRA = "bench"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)\s*$")


def pins(pyproject: Path = PYPROJECT, extra: str = EXTRA) -> dict[str, str]:
    """The extra's requirements as name -> version; each must be an exact `name==version` pin
    (a benchmark's numbers depend on the tool's version)."""
    data = tomllib.loads(pyproject.read_text())
    found: dict[str, str] = {}
    for requirement in data["project"]["optional-dependencies"][extra]:
        match = _PIN.match(requirement)
        if not match:
            raise ValueError(f"{extra} extra: {requirement!r} is not pinned as name==version")
        found[match.group(1)] = match.group(2)
    return found


def missing(wanted: dict[str, str]) -> list[str]:
    """The pins not installed at their version, as pip arguments."""
    out = []
    for name, version in wanted.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            out.append(f"{name}=={version}")
    return out


def main() -> int:
    todo = missing(pins())
    if not todo:
        return 0
    print(f"installing the bench extra's pins: {' '.join(todo)}", flush=True)
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *todo])


if __name__ == "__main__":
    sys.exit(main())
