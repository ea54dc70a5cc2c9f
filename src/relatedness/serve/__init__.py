"""The related-articles service: ``relatedness serve`` and :func:`create_app` (``pip install
'relatedness[serve]'``).

A Python site mounts :func:`create_app`'s ASGI application in its own; any other CMS calls it
over HTTP (README "Serve it", docs/serve.md) or drops the widget (``/widget.js``) into a page.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The service as an ASGI application; see :func:`relatedness.serve.app.create_app`."""
    # Imported here so that ``import relatedness.serve`` works (and says what to install)
    # without Starlette.
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
