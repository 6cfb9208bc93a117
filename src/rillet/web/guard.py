"""Who may use `rillet serve`: checks on every request, whatever address it listens on.

- **Host**: only the host names the server is meant to be reached by (loopback names, the
  address it listens on, this machine's names, and any `--allowed-host`), so a site
  DNS-rebound to this address cannot drive it.
- **Origin**: a browser request must come from the page itself, not another site.
- **Token**: off loopback, every request needs the server's token: `?token=` on the page's
  address (which sets an HttpOnly, SameSite=Strict cookie the page then sends by itself)
  or an `Authorization: Bearer` header for scripts.
- **Framing**: no other site may frame the page (CSP frame-ancestors, X-Frame-Options).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
COOKIE = "rillet_token"
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token in the page's address stays here
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names requests may be addressed to for a server listening on `bind_host`."""
    names = set(LOOPBACK_NAMES) | {h.lower().strip("[]") for h in extra}
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(bind_host.lower().strip("[]"))
    if not is_loopback(bind_host):
        # This machine's own names and addresses: how other machines reach it.
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
            except OSError:
                pass
    return frozenset(names)


def guard(hosts: frozenset[str], token: str | None) -> Any:
    """The middleware that checks Host, Origin and (when set) the token."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = (urlsplit(f"//{request.host}").hostname or "").lower()
        if host not in hosts:
            return _refuse(403, f"this server answers only the host names it serves "
                                f"({', '.join(sorted(hosts))}), not '{host}'; start it with "
                                f"--allowed-host {host} to allow that name")
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return _refuse(403, f"requests from {origin} are refused: open the page at "
                                f"http://{request.host}/ instead")
        if token is None:
            return await handler(request)
        given = request.query.get("token")
        if given is not None and request.method == "GET" and request.path == "/":
            if not hmac.compare_digest(given, token):
                return _refuse(401, "wrong token: use the address `rillet serve` printed")
            # Keep the token out of the address bar and history; the cookie carries it.
            response = web.Response(status=303, headers={"Location": "/"})
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response
        presented = request.cookies.get(COOKIE) or _bearer(request)
        if presented is None or not hmac.compare_digest(presented, token):
            return _refuse(401, "this server needs its token: open the address `rillet "
                                "serve` printed (…/?token=…), or send Authorization: Bearer")
        return await handler(request)

    return check


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every response, streamed ones too, says it may not be framed."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
