"""The HTTP server the `crm` commands run: uvicorn, told to end the open event streams first
when it stops.

uvicorn stops by waiting for every open response to finish before it runs the app's shutdown;
an event stream (GET /v1/stream) never finishes by itself, so without this a server with a
stream open would wait for ever. `before_shutdown` (e.g. `Chronicle.end_streams`) runs as the
shutdown begins: each stream then sends what it has and ends its response, and the rest of
uvicorn's graceful shutdown proceeds as usual.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class StreamsEndingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config,
                 before_shutdown: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._before_shutdown = before_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._before_shutdown is not None:
            self._before_shutdown()
        await super().shutdown(sockets)
