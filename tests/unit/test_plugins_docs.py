"""docs/plugins.md's examples run: its ``# file: NAME`` code blocks are written to a directory,
the plugins among them are loaded as the gateway loads them, and the test files among them are
run, so the guide cannot drift from what Gantry does."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dataplane.plugins import load_registry
from dataplane.plugins.kong_pdk import load_plugin_file
from tests.support.paths import ROOT

GUIDE = ROOT / "docs" / "plugins.md"
_BLOCK = re.compile(r"^```python\n# file: (?P<name>\S+)\n(?P<code>.*?)^```$", re.M | re.S)


def blocks() -> dict[str, str]:
    found = {match["name"]: match["code"] for match in _BLOCK.finditer(GUIDE.read_text())}
    assert found, "no '# file:' example in docs/plugins.md"
    return found


@pytest.fixture
def examples(tmp_path, monkeypatch) -> Iterator[Path]:
    for name, code in blocks().items():
        (tmp_path / name).write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if (tmp_path / f"{name}.py").exists():
            del sys.modules[name]


def defined_tests(module: ModuleType) -> list[str]:
    return [name for name in vars(module) if name.startswith("test_") and callable(getattr(module, name))]


@pytest.mark.parametrize("test_file", [name for name in blocks() if name.startswith("test_")])
def test_the_guides_tests_pass(examples, test_file):
    module = importlib.import_module(test_file[:-3])
    names = defined_tests(module)
    assert names, f"{test_file} defines no test"
    for name in names:
        getattr(module, name)()


def test_the_gantry_example_loads_by_its_name_as_plugins_names_it(examples):
    registry = load_registry(["request-stamp"])  # the importable module request_stamp
    spec = registry.get("request-stamp")
    assert spec is not None and spec.source == "custom"
    assert (spec.priority, spec.version, spec.phases) == (900, "1.0.0", {"access", "header_filter", "log"})


def test_the_kong_pdk_example_loads_as_from_a_plugin_server(examples):
    spec = load_plugin_file("py-greeting", str(examples / "py-greeting.py"))
    assert (spec.source, spec.lua_style, spec.phases) == ("kong-pdk", True, {"access"})
    assert spec.config.field_map()["greeting"].default == "hello"
