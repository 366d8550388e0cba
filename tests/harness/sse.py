"""A real HTTP server in a thread, and a Server-Sent Events client that reads with deadlines.

The event stream never ends by itself, so tests read it as a browser would, over a socket, a
block at a time, each read bounded by a deadline: a missing event fails the test with what was
awaited instead of hanging it. The client speaks just enough HTTP/1.1 for that (one request
per connection, a chunked or sized body), in one thread, so closing it is a plain disconnect.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import uvicorn

from services.cli.serving import StreamsEndingServer
from tests.harness.services import free_port
from tests.waiting import eventually


@dataclass
class LiveServer:
    url: str
    server: StreamsEndingServer
    thread: threading.Thread

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop as `crm serve` does on a signal; fails if the server does not stop in time."""
        self.server.should_exit = True
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the server did not stop within {timeout_s:g} s"


@contextmanager
def serving(app: Any, before_shutdown: Callable[[], None] | None = None
            ) -> Iterator[LiveServer]:
    """Serve `app` on a free loopback port with the server `crm serve` runs."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", timeout_keep_alive=1)
    server = StreamsEndingServer(config, before_shutdown)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    live = LiveServer(f"http://127.0.0.1:{port}", server, thread)
    try:
        eventually(lambda: server.started or not thread.is_alive(), 30,
                   "the server did not start")
        assert server.started, "the server failed to start"
        yield live
    finally:
        if thread.is_alive():
            live.stop()


@dataclass
class Block:
    """One block of an event stream (the lines up to a blank line)."""

    id: int | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        assert self.data is not None, self
        found: dict[str, Any] = json.loads(self.data)
        return found


class StreamEnded(AssertionError):
    """The server ended the stream."""


class SseClient:
    """`GET path` on a live server; `status` and `headers` once connected, then the stream's
    blocks with `next_block(timeout_s)`."""

    def __init__(self, base_url: str, path: str = "/v1/stream",
                 params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
                 headers: Mapping[str, str] | None = None, connect_timeout_s: float = 10.0
                 ) -> None:
        parts = urlsplit(base_url)
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        self._sock = socket.create_connection((parts.hostname, parts.port), connect_timeout_s)
        lines = [f"GET {path}{query} HTTP/1.1", f"Host: {parts.netloc}",
                 "Accept: text/event-stream", "Connection: close",
                 *(f"{name}: {value}" for name, value in (headers or {}).items())]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._raw = b""
        self._body = b""
        self._ended = False
        self.complete = False
        """Whether the answer ended as HTTP says it ends (its last chunk, or all its bytes),
        not by the connection being cut."""
        self._chunked = False
        self._remaining: int | None = None
        head = self._read_until(b"\r\n\r\n", time.monotonic() + connect_timeout_s)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ")[1])
        self.headers = {name.strip().lower(): value.strip() for name, _, value in
                        (line.partition(":") for line in header_lines if line)}
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        if "content-length" in self.headers:
            self._remaining = int(self.headers["content-length"])

    # -- the body -------------------------------------------------------------------------------

    def json(self, timeout_s: float = 10.0) -> Any:
        """The whole body of an answer that is not a stream (an error), as JSON."""
        deadline = time.monotonic() + timeout_s
        while not self._ended:
            self._pump(deadline)
        return json.loads(self._body)

    def next_block(self, timeout_s: float) -> Block:
        """The next block; StreamEnded when the server ended the stream, AssertionError when
        none came within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while b"\n\n" not in self._body:
            if self._ended:
                raise StreamEnded(f"the stream ended (left: {self._body!r})")
            self._pump(deadline)
        text, self._body = self._body.split(b"\n\n", 1)
        return parse_block(text.decode())

    def events(self, count: int, timeout_s: float) -> list[Block]:
        """The next `count` events (blocks with data), skipping heartbeats and id-only blocks."""
        deadline = time.monotonic() + timeout_s
        found: list[Block] = []
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(found)} of {count} events within {timeout_s:g} s")
            block = self.next_block(remaining)
            if block.data is not None:
                found.append(block)
        return found

    def quiet_for(self, seconds: float) -> list[Block]:
        """Every block that arrives within `seconds` (the stream stays open)."""
        deadline = time.monotonic() + seconds
        found: list[Block] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return found
            try:
                found.append(self.next_block(remaining))
            except StreamEnded:
                raise
            except AssertionError:
                return found

    def wait_for_end(self, timeout_s: float) -> list[Block]:
        """Read until the server ends the stream; the blocks read on the way."""
        deadline = time.monotonic() + timeout_s
        found: list[Block] = []
        while True:
            try:
                found.append(self.next_block(max(0.0, deadline - time.monotonic())))
            except StreamEnded:
                return found

    def close(self) -> None:
        """Disconnect, as a browser closing the page does."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- HTTP/1.1 framing -----------------------------------------------------------------------

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("nothing arrived in time")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise AssertionError("nothing arrived in time") from None
        except OSError:
            data = b""
        return data

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while marker not in self._raw:
            data = self._recv(deadline)
            if not data:
                raise StreamEnded("the connection closed before the answer's head")
            self._raw += data
        head, self._raw = self._raw.split(marker, 1)
        return head

    def _pump(self, deadline: float) -> None:
        """Move at least one more byte of body (or the end) from the socket to `_body`."""
        before = (len(self._body), self._ended)
        while (len(self._body), self._ended) == before:
            if self._decode():
                continue
            data = self._recv(deadline)
            if not data:
                self._ended = True
                return
            self._raw += data

    def _decode(self) -> bool:
        """Decode what `_raw` holds into `_body`; whether anything moved."""
        if not self._chunked:
            if not self._raw:
                return False
            take = self._raw if self._remaining is None else self._raw[: self._remaining]
            self._body += take
            self._raw = self._raw[len(take):]
            if self._remaining is not None:
                self._remaining -= len(take)
                self._ended = self.complete = self._remaining == 0
            return bool(take)
        moved = False
        while b"\r\n" in self._raw:
            size_line, rest = self._raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self._raw, self._ended, self.complete = b"", True, True
                return True
            if len(rest) < size + 2:
                break
            self._body += rest[:size]
            self._raw = rest[size + 2:]
            moved = True
        return moved


def parse_block(text: str) -> Block:
    block = Block()
    data: list[str] = []
    for line in text.split("\n"):
        if line.startswith(":"):
            block.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            block.id = int(value)
        elif name == "event":
            block.event = value
        elif name == "data":
            data.append(value)
        elif name == "retry":
            block.retry = int(value)
    if data:
        block.data = "\n".join(data)
    return block
