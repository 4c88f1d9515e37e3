"""Addresses too long for the HTTP server: read up to a bound, and answered in the app's words.

Streamlit serves through uvicorn, whose HTTP parser (h11) refuses a request head over 16 KiB
with a bare "400 Invalid HTTP request received.": a hand-made link with thousands of talk
steps or a 100 kB setting got the browser's error page and no word from the app (issue 28).
The app's own links stay far below that (ui/shared/share.py); a hand-made one now reaches the
app up to MAX_ADDRESS_BYTES, where its page names what it refuses, and one longer still gets a
short page of the app's own that says why and links to the start page.

Both changes are made to the running server's process when the app first runs, so the very
first request to a fresh server, before any page has run, still gets uvicorn's answer. With
another HTTP parser (httptools, where installed) nothing is changed: its own limits apply.
"""

from __future__ import annotations

MAX_ADDRESS_BYTES = 256 * 1024  # what a request head may hold; Chromium sends up to 2 MB
TOO_LONG_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
    "<title>Digit Lab: address too long</title></head>"
    "<body style='font-family: sans-serif; max-width: 40rem; margin: 3rem auto; "
    "padding: 0 1rem; color: #111827; line-height: 1.5'>"
    "<h1 style='font-size: 1.6rem'>This address is too long for Digit Lab</h1>"
    "<p>Digit Lab reads addresses of up to {limit} kB; this one is longer, or is not a valid "
    "request. The links the app makes are far shorter: open the "
    "<a href='/' style='color: #1d4ed8'>start page</a> and choose the settings there.</p>"
    "</body></html>"
)


def _too_long_response(protocol, message: str) -> None:
    """Answer a request h11 could not read with the app's page (uvicorn's own, reworded)."""
    import h11

    body = TOO_LONG_PAGE.format(limit=MAX_ADDRESS_BYTES // 1024).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    protocol.logger.warning("%s (answered with the app's page)", message)
    for event in (
        h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
        h11.Data(data=body),
        h11.EndOfMessage(),
    ):
        protocol.transport.write(protocol.conn.send(event))
    protocol.transport.close()


def _reading_long_addresses(original):
    """Wrap H11Protocol.data_received: the connection reads request heads up to the bound."""

    def data_received(self, data: bytes) -> None:
        # set on every call, as connections opened before the app first ran (a browser's
        # kept-alive ones) were made with h11's 16 KiB
        if getattr(self.conn, "_max_incomplete_event_size", MAX_ADDRESS_BYTES) < MAX_ADDRESS_BYTES:
            self.conn._max_incomplete_event_size = MAX_ADDRESS_BYTES
        original(self, data)

    data_received.reads_long_addresses = True
    return data_received


def serve_long_addresses() -> bool:
    """Let the server read addresses up to MAX_ADDRESS_BYTES and answer longer ones with the
    app's page; return whether the server is one this knows (uvicorn with h11). Idempotent."""
    try:
        from uvicorn.protocols.http import h11_impl
    except ImportError:
        return False
    protocol = getattr(h11_impl, "H11Protocol", None)
    if protocol is None or not hasattr(protocol, "data_received"):
        return False
    if not getattr(protocol.data_received, "reads_long_addresses", False):
        protocol.data_received = _reading_long_addresses(protocol.data_received)
    protocol.send_400_response = _too_long_response
    return True
