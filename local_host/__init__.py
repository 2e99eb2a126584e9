"""A local host for the Azure Functions app, standing in for ``func start``.

Run it with ``python -m local_host``; see :func:`local_host.server.main`.
"""

from __future__ import annotations

from .asgi import build_asgi_app
from .discovery import FunctionCatalog, discover_functions, load_app
from .server import main

__all__ = ["FunctionCatalog", "build_asgi_app", "discover_functions", "load_app", "main"]
