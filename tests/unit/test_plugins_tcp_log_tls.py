"""tcp-log over TLS against a server on this test's event loop: lines of JSON, the SNI named by
tls_sni, the collector's certificate not verified (Kong's handshake does not verify it), one
kept connection."""

from __future__ import annotations

import asyncio
import ssl

import trustme

from dataplane.plugins.bundled.tcp_log import Plugin


def test_tcp_log_over_tls_sends_lines_with_the_configured_sni():
    async def test():
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("collector.test").configure_cert(context)
        names: list[str | None] = []
        context.sni_callback = lambda _sock, name, _ctx: names.append(name)
        received = bytearray()
        connections = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            while chunk := await reader.read(65536):
                received.extend(chunk)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        config = {
            "host": "127.0.0.1",
            "port": port,
            "timeout": 5000,
            "keepalive": 60000,
            "tls": True,
            "tls_sni": "logs.example.test",
        }
        plugin = Plugin(config)
        await plugin.send([b'{"a":1}', b'{"b":2}'])
        await plugin.send([b'{"c":3}'])
        for _ in range(100):
            if received.count(b"\n") == 3:
                break
            await asyncio.sleep(0.01)
        server.close()
        assert bytes(received) == b'{"a":1}\n{"b":2}\n{"c":3}\n'
        assert names == ["logs.example.test"] and connections == 1

    asyncio.run(test())
