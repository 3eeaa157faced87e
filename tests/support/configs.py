"""Declarative configurations (kong.yml) the tests start gateways with."""

from __future__ import annotations

import uuid
from pathlib import Path


def config(port: int, path: str = "/api", name: str = "api") -> str:
    """One service on 127.0.0.1:`port` with one route on `path`."""
    return f"""
    _format_version: "3.0"
    services:
      - name: {name}
        url: http://127.0.0.1:{port}
        routes:
          - name: {name}-route
            paths: ["{path}"]
    """


def write_services_yml(path: Path, services: int, port: int, *, owner_tags: bool = False) -> None:
    """A kong.yml of `services` services on 127.0.0.1:`port`, each with one route /big<i>/ (no path
    a prefix of another). `owner_tags`: each service is tagged `owner-<a uuid of its own>`, which
    compresses as little as ids do."""
    lines = ["_format_version: '3.0'", "services:"]
    for i in range(services):
        lines += [
            f"- name: big{i}",
            f"  url: http://127.0.0.1:{port}/",
            "  routes:",
            f"  - name: big{i}",
            f"    paths: [/big{i}/]",
        ]
        if owner_tags:
            lines.append(f"  tags: [owner-{uuid.uuid5(uuid.NAMESPACE_URL, f'big{i}')}]")
    path.write_text("\n".join(lines) + "\n")
