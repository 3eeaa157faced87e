"""Responses as Kong's Admin API sends them: compact JSON, `application/json; charset=utf-8`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


def no_content() -> Response:
    return Response(status_code=204)
