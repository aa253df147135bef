"""Open a TCP tunnel through an HTTP(S) CONNECT or SOCKS5 proxy, with a blocking socket.

The protocol logic lives in :mod:`tether.core.proxy`; this module only moves bytes.
Everything happens before ``deadline`` (a :func:`time.monotonic` value) or raises
:exc:`TimeoutError`.
"""

from __future__ import annotations

import socket
import ssl as ssl_module
import time

from ..core.proxy import Proxy, proxy_handshake
from ..exceptions import ProxyError
from ..tls import clarify_tls_error, client_ssl_context

__all__ = ["open_tunnel", "remaining"]


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (``None``: no deadline); raises when none are left."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out during the opening handshake")
    return left


def _resolve(host: str, port: int) -> str:
    """Resolve ``host`` locally, for ``socks5://`` (RFC 1928 lets either side resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ProxyError(
            f"could not resolve {host!r} for the socks5:// proxy (it resolves names "
            f"locally; socks5h:// lets the proxy do it): {exc}"
        ) from exc
    address = infos[0][4][0]
    assert isinstance(address, str)
    return address


def open_tunnel(
    proxy: Proxy,
    host: str,
    port: int,
    *,
    deadline: float | None,
    ssl_to_proxy: ssl_module.SSLContext | None = None,
    user_agent: str | None = None,
) -> tuple[socket.socket, bytes]:
    """Connect to ``proxy`` and ask it for a tunnel to ``host:port``.

    Returns the socket (a TLS socket for ``https://`` proxies, made with
    ``ssl_to_proxy`` or :func:`tether.tls.client_ssl_context`) and the bytes that
    already arrived through the tunnel.  Raises :exc:`ProxyError` when the proxy
    can't be reached or refuses, :exc:`TimeoutError` past ``deadline``.
    """
    resolved_ip = None if proxy.remote_dns else _resolve(host, port)
    handshake = proxy_handshake(proxy, host, port, resolved_ip, user_agent)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=remaining(deadline))
    except TimeoutError:
        raise
    except OSError as exc:
        raise ProxyError(
            f"could not reach the proxy at {proxy.address} ({proxy.url}): {exc.strerror or exc}"
        ) from exc
    try:
        if proxy.tls:
            context = ssl_to_proxy or client_ssl_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=proxy.host)
            except ssl_module.SSLError as exc:
                clear = clarify_tls_error(exc, proxy.host)
                raise ProxyError(f"TLS to the proxy at {proxy.address} failed: {clear}") from exc
        while True:
            out = handshake.data_to_send()
            if out:
                sock.settimeout(remaining(deadline))
                sock.sendall(out)
            if handshake.done:
                break
            sock.settimeout(remaining(deadline))
            data = sock.recv(65536)
            if data:
                handshake.receive_data(data)
            else:
                handshake.receive_eof()
    except TimeoutError:
        sock.close()
        raise
    except ProxyError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        raise ProxyError(
            f"lost the connection to the proxy at {proxy.address} during the handshake: {exc}"
        ) from exc
    except BaseException:
        sock.close()
        raise
    return sock, handshake.leftover
