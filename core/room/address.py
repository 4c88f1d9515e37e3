"""The address a phone in the room opens: this machine's LAN address, or a public one."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import quote

PUBLIC_URL_ENV = "DIGITLAB_PUBLIC_URL"  # e.g. https://digits.example.org behind a proxy or tunnel
JOIN_PATH = "join"
ONLY_HERE = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class JoinAddress:
    """The link a phone opens to join a room, and why it may not reach this server."""

    url: str
    problem: str | None = None  # set when phones on the network cannot open url


def lan_address() -> str | None:
    """Return this machine's address on its network, or None where it has only loopback."""
    # connecting a UDP socket picks the interface a packet would leave by; nothing is sent
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, needs no network
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def join_address(code: str, port: int, listening_on: str | None, environ=os.environ) -> JoinAddress:
    """Return the room's join link for phones, with a problem when they cannot reach it."""
    return phone_address(f"{JOIN_PATH}?room={quote(code)}", port, listening_on, environ)


def phone_address(
    query: str, port: int, listening_on: str | None, environ=os.environ
) -> JoinAddress:
    """Return the link a phone opens for this path of the app, with a problem when it cannot."""
    public = (environ.get(PUBLIC_URL_ENV) or "").strip().rstrip("/")
    if public:
        return JoinAddress(f"{public}/{query}")
    if (listening_on or "").strip() in ONLY_HERE:
        return JoinAddress(
            f"http://localhost:{port}/{query}",
            "The server listens only on this computer, so phones cannot reach it. Start it with "
            f"`streamlit run app.py --server.address 0.0.0.0` (or `DIGITLAB_ADDRESS=0.0.0.0` "
            f"for deploy/start.sh), or set {PUBLIC_URL_ENV} to an address that reaches it.",
        )
    address = lan_address()
    if address is None:
        return JoinAddress(
            f"http://localhost:{port}/{query}",
            "This computer is on no network, so phones cannot reach it: join the room's Wi-Fi "
            f"(or open a hotspot), or set {PUBLIC_URL_ENV} to an address that reaches it.",
        )
    return JoinAddress(f"http://{address}:{port}/{query}")
