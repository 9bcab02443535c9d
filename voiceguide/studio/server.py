"""Start the studio: a socket on 127.0.0.1 (or the LAN with --lan), a random token, uvicorn, the browser."""

from __future__ import annotations

import errno
import secrets
import socket
import sys
import webbrowser

import click

from ..config import load_config
from ..errors import UsageError
from .core import Folders

DEFAULT_PORT = 8765
INSTALL_HINT = 'the studio needs its extra: pip install "voiceguide[studio]" (Starlette, uvicorn and segno)'


def check_installed() -> None:
    try:
        import segno  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


def lan_address() -> str:
    """This computer's address on the local network: the source address of a route to a private address
    (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.168.255.255", 9))
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        raise UsageError("no local network address found for --lan: connect to a network (Wi-Fi) first, or leave out --lan")
    return address


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use (another studio?): choose another with --port, or --port 0 for any free one") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def serve(port: int = DEFAULT_PORT, open_browser: bool = True, lan: bool = False) -> None:
    """Run until Ctrl-C (or SIGTERM); the first line on stdout is the page's address with its token."""
    check_installed()
    import segno
    import uvicorn

    from .app import create_app

    config = load_config()
    folders = Folders.from_config(config)
    host = lan_address() if lan else "127.0.0.1"
    sock = bind(host, port)
    token = secrets.token_urlsafe(18)
    url = f"http://{host}:{sock.getsockname()[1]}/?token={token}"
    qr_svg = None
    click.echo(url)
    if lan:
        qr = segno.make(url, error="m")
        qr_svg = qr.svg_inline(scale=4, border=2)
        click.echo("Open it on a phone on the same network (anyone on this network with the link can use it):", err=True)
        qr.terminal(out=sys.stderr, compact=True)
    click.echo(f"Your routines: {folders.routines}; sessions: {folders.sessions}. Ctrl-C stops the studio.", err=True)
    sys.stdout.flush()
    servers: list = []
    app = create_app(token, folders, config, lan_url=url if lan else None, qr_svg=qr_svg,
                     stopping=lambda: bool(servers) and servers[0].should_exit)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5))
    servers.append(server)
    if open_browser:
        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has already shut down; Ctrl-C is how the studio is meant to stop
    finally:
        sock.close()
    click.echo("Studio stopped.", err=True)
