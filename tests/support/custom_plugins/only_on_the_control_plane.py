"""A custom plugin only the control plane of a test loads (its directory is put on that
process's PYTHONPATH): data planes do not carry it, so Kong's plugin check refuses them."""

from typing import Any

from dataplane.schema import Field

priority = 10
version = "1.0.0"
Schema = Field("record", required=True, default={}, fields=())


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def access(self, kong: Any) -> None:
        kong.response.set_header("X-Only-On-The-Control-Plane", "1")
