"""What the status API reports about the control-plane link."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class LinkStatus:
    connected: bool = False
    address: str | None = None  # the control plane in use or last tried
    last_seen: int | None = None  # epoch seconds of the last message from a control plane

    def as_json(self) -> dict:
        return {"connected": self.connected, "address": self.address, "last_seen": self.last_seen}
