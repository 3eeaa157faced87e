"""A name server on loopback for the tests: A records for the names it is given, NXDOMAIN for
the rest, and the queries it was asked."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeDNS:
    """A UDP name server on loopback: A records for the names it knows, NXDOMAIN for the rest."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = {name.rstrip(".") + ".": address for name, address in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text()
            self.queries.append(f"{name} {dns.rdatatype.to_text(question.rdtype)}")
            if name not in self.records:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(name, 30, "IN", "A", self.records[name]))
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()
