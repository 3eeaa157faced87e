"""WebSocket through the real `dataplane run` (2 workers) in front of a real WebSocket server:
the handshake is routed like any request, then messages flow both ways until one side closes."""

from __future__ import annotations

import threading

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect
from websockets.sync.server import serve

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def ws_upstream():
    """An echo WebSocket server in a thread; yields (port, the request paths it saw)."""
    paths: list[str] = []

    def echo(ws) -> None:
        paths.append(ws.request.path)
        for message in ws:
            if message == "bye":
                ws.close(1000, "done")
                return
            ws.send(message)

    server = serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.socket.getsockname()[1], paths
    server.shutdown()
    thread.join(5)


def test_websocket_messages_cross_the_gateway(gateway_factory, ws_upstream):
    port, paths = ws_upstream
    gw = gateway_factory(f"""
    _format_version: "3.0"
    services:
      - name: chat
        url: http://127.0.0.1:{port}/socket
        routes:
          - name: chat
            paths: ["/chat"]
    """)
    for _ in range(4):  # several connections: both workers take some
        with connect(f"ws://127.0.0.1:{gw.port}/chat/room?id=7") as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
            ws.send(b"\x00" * 100_000)
            assert ws.recv(timeout=5) == b"\x00" * 100_000
            ws.send("bye")
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=5)
            assert ws.close_code == 1000 and ws.close_reason == "done"
    assert paths == ["/socket/room?id=7"] * 4
