"""`dataplane` reporting another Gantry version to its control plane, for tests of the
control plane's version check with a real data plane process. Test-only: a data plane in
production always reports the version it runs.

    python -m tests.support.dataplane_as_version 1.0.0 run -c kong.conf
"""

from __future__ import annotations

import re
import sys

import dataplane

USAGE = "usage: python -m tests.support.dataplane_as_version VERSION DATAPLANE-ARGUMENTS..."


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not re.fullmatch(r"\d+\.\d+\.\d+", argv[0]):
        sys.exit(f"{USAGE}\nVERSION is major.minor.patch, got {argv[0] if argv else 'nothing'!r}")
    dataplane.__version__ = argv[0]
    # Imported only now: the modules that report the version copy it when they are imported.
    from dataplane.cli import main as dataplane_main

    dataplane_main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
