"""One URL, a synchronous view under WSGI and an asynchronous one under ASGI.

Django asks ``iscoroutinefunction(view)`` on every request. An ``async def`` view
under WSGI costs an event loop and a thread hop per request; a plain view under
ASGI runs in the one shared sync thread, so a slow Stripe call would hold up every
other synchronous piece of work. ``SyncOrAsyncView`` answers "coroutine" only when
asked from a running event loop (Django's ASGI handler), and calls the matching
implementation. Should a future Python change how coroutine functions are marked,
it degrades to the synchronous view, which works everywhere.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse


def _coroutine_marks() -> dict[str, Any]:
    """The attribute(s) that mark a callable as a coroutine function on this Python."""

    def probe() -> None:
        """Marked once, to learn the marker."""

    before = set(vars(probe))
    markcoroutinefunction(probe)
    return {name: value for name, value in vars(probe).items() if name not in before}


_COROUTINE_MARKS = _coroutine_marks()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SyncOrAsyncView:
    """A view callable that is synchronous or asynchronous depending on who calls it."""

    def __init__(
        self,
        sync_view: Callable[..., HttpResponse],
        async_view: Callable[..., Awaitable[HttpResponse]],
    ) -> None:
        # Name, docstring and attributes such as _non_atomic_requests come from the sync view.
        functools.update_wrapper(self, sync_view)
        self.sync_view = sync_view
        self.async_view = async_view

    def __getattr__(self, name: str) -> Any:
        if name in _COROUTINE_MARKS and _on_event_loop():
            return _COROUTINE_MARKS[name]
        raise AttributeError(name)

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """An ``HttpResponse``, or on an event loop an awaitable of one."""
        if _on_event_loop():
            return self.async_view(request, *args, **kwargs)
        return self.sync_view(request, *args, **kwargs)
