"""The HTTP side: feeds for readers, a web archive, subscribe / confirm / manage / unsubscribe."""

from .app import create_app
from .server import Server, serve_until_signalled

__all__ = ["create_app", "Server", "serve_until_signalled"]
