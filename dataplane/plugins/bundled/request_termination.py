"""request-termination: answer every request of its scope itself (Kong's
kong/plugins/request-termination). Priority 2: after every other access plugin."""

from __future__ import annotations

from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 2
version = "3.10.0"


def _check(config: dict[str, Any]) -> str | None:
    if config.get("message") is not None and (config.get("body") is not None or config.get("content_type") is not None):
        return "message cannot be used with content_type or body"
    if config.get("echo") and (config.get("body") is not None or config.get("content_type") is not None):
        return "echo cannot be used with content_type or body"
    return None


Schema = record(
    ("status_code", Field("integer", required=True, default=503, between=(100, 599))),
    ("message", Field("string")),
    ("content_type", Field("string")),
    ("body", Field("string")),
    ("echo", Field("boolean", required=True, default=False)),
    ("trigger", Field("string")),
    required=True,
    custom_validator=_check,
)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.status = config.get("status_code", 503)
        self.message = config.get("message")
        self.content_type = config.get("content_type")
        self.body = config.get("body")
        self.echo = config.get("echo", False)
        self.trigger = config.get("trigger")

    def access(self, kong: Any) -> None:
        trigger = self.trigger
        if trigger and kong.request.get_header(trigger) is None and kong.request.get_query_arg(trigger) is None:
            return
        if self.echo:
            kong.response.exit(
                self.status,
                {
                    "message": "request-termination echo",
                    "request": {
                        "scheme": kong.request.get_scheme(),
                        "host": kong.request.get_host(),
                        "port": kong.request.get_port(),
                        "headers": kong.request.get_headers(),
                        "query": kong.request.get_query(),
                        "method": kong.request.get_method(),
                        "path": kong.request.get_path(),
                    },
                    "matched_route": kong.router.get_route(),
                    "matched_service": kong.router.get_service(),
                },
            )
            return
        if self.body is not None:
            headers = {"Content-Type": self.content_type} if self.content_type else None
            kong.response.exit(self.status, self.body, headers)
            return
        kong.response.error(self.status, self.message)
