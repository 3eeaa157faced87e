"""The repository and the entry points the tests run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATAPLANE = ROOT / ".venv" / "bin" / "dataplane"
CONTROLPLANE = [sys.executable, "-m", "controlplane.cli"]
