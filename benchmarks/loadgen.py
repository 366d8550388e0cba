"""Load generator: N concurrent keep-alive clients sending single commands to the command API.

Runs as its own process (`python -m benchmarks.loadgen '<json config>'`) so that its CPU time
can be measured apart from the server's. It prints `MEASURE_START` and `MEASURE_END` lines when
the measured window opens and closes (the parent samples CPU counters then), and finally one
`RESULT {json}` line.

Two HTTP client implementations, chosen by `impl`:
- `raw`: a minimal HTTP/1.1 keep-alive client on asyncio streams (one connection per client);
- `httpx`: `httpx.AsyncClient` with a keep-alive pool of one connection per client.

Mixes:
- `tag`: `POST /v1/customers/{id}/tags {"tag": "t<n>"}` — one event. A customer holds at most
  100 tags (domain rule), so each client walks through its own pool of pre-registered
  customers, 100 tags each;
- `interaction`: `POST /v1/customers/{id}/interactions {"channel": "note"}` — two events
  (the interaction and a link on the customer), one customer per client;
- `me`: `GET /v1/me` — authenticated, no store: the floor cost of the HTTP stack with the key
  checked (the HTTP floor);
- `health`: `GET /health` — public, no store: the HTTP stack without authentication (diagnostic;
  beside `me` it gives the cost of authentication per request).

`token` (config): an API key, sent as `Authorization: Bearer <token>` on every request, GET and
POST (a public route such as `/health` ignores it; the request is then the same size).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from benchmarks.stats import latency_summary
from services.command.domain.customer import MAX_TAGS

TAGS_PER_CUSTOMER = MAX_TAGS  # a customer takes at most this many tags
WRITES = ("tag", "interaction")
"""The mixes that write (customers registered first; answers carry a position)."""


class HttpError(Exception):
    pass


IDLE_REUSE_S = 4.0
"""A connection idle longer than this is replaced before the next request: uvicorn closes
keep-alive connections idle for 5 s, and a request written just then is lost unanswered."""


class RawClient:
    """HTTP/1.1 over one asyncio connection; reconnects when the server closes it."""

    def __init__(self, port: int, timeout: float, token: str | None = None) -> None:
        self.port = port
        self.timeout = timeout
        self.auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), self.timeout
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None

    async def post(self, path: str, body: bytes | None) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._post(path, body), self.timeout)
        except BaseException:
            await self.close()  # the connection's state is unknown now
            raise

    async def _post(self, path: str, body: bytes | None) -> tuple[int, bytes]:
        """POST `body` as JSON, or GET when `body` is None."""
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_REUSE_S:
            await self.close()
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        if body is None:
            request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                       f"{self.auth}\r\n").encode()
        else:
            request = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\n{self.auth}"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        self.writer.write(request)
        await self.writer.drain()
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            payload = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        self.last_used = time.monotonic()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload


class HttpxClient:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, path: str, body: bytes | None) -> tuple[int, bytes]:
        if body is None:
            response = await self.client.get(path)
            return response.status_code, response.content
        response = await self.client.post(
            path, content=body, headers={"Content-Type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        pass


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    statuses: Tally[int] = field(default_factory=Tally)
    error_samples: list[str] = field(default_factory=list)
    first_position: int | None = None
    last_position: int | None = None
    inline_registrations: int = 0
    last_completion: float = 0.0


async def register_customer(client: Any, label: str) -> str:
    body = json.dumps({"personal": {"name": f"Bench {label}"}}).encode()
    status, payload = await client.post("/v1/customers", body)
    if status != 201:
        raise HttpError(f"registering a customer answered {status}: {payload[:300]!r}")
    return str(json.loads(payload)["customer_id"])


async def run(config: dict[str, Any]) -> dict[str, Any]:
    port, impl, mix = int(config["port"]), config["impl"], config["mix"]
    clients, per_client = int(config["clients"]), int(config["customers_per_client"])
    warmup, seconds, timeout = float(config["warmup"]), float(config["seconds"]), float(
        config.get("timeout", 30.0))

    token: str | None = config.get("token")
    if mix not in ("tag", "interaction", "me", "health"):
        raise ValueError(f"unknown mix {mix!r}")
    httpx_client = None
    if impl == "httpx":
        import httpx

        httpx_client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=timeout,
            limits=httpx.Limits(max_connections=clients, max_keepalive_connections=clients),
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )
        connections: list[Any] = [HttpxClient(httpx_client) for _ in range(clients)]
    elif impl == "raw":
        connections = [RawClient(port, timeout, token) for _ in range(clients)]
    else:
        raise ValueError(f"unknown impl {impl!r}")

    try:
        # Set-up (not measured): register every client's customers, clients in parallel.
        async def register_all(index: int) -> list[str]:
            return [await register_customer(connections[index], f"c{index}-{j}")
                    for j in range(per_client)]

        setup_started = time.perf_counter()
        pools = await asyncio.gather(*(register_all(i) for i in range(clients))) \
            if mix in WRITES else [[] for _ in range(clients)]
        setup_seconds = time.perf_counter() - setup_started

        started = time.perf_counter()
        measure_from = started + warmup
        stop_at = measure_from + seconds
        outcome = Outcome()

        async def client_loop(index: int) -> None:
            client, pool = connections[index], pools[index]
            customer_index, tags_on_customer, sent = 0, 0, 0
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                if mix == "tag":
                    if tags_on_customer >= TAGS_PER_CUSTOMER:
                        customer_index += 1
                        tags_on_customer = 0
                        if customer_index >= len(pool):  # pool too small: register one more
                            pool.append(await register_customer(client, f"c{index}-x{len(pool)}"))
                            outcome.inline_registrations += 1
                            began = time.perf_counter()
                    tags_on_customer += 1
                    path = f"/v1/customers/{pool[customer_index]}/tags"
                    body = b'{"tag":"t%d"}' % tags_on_customer
                elif mix == "interaction":
                    path = f"/v1/customers/{pool[0]}/interactions"
                    body = b'{"channel":"note"}'
                elif mix == "me":  # the HTTP stack and the key check, no store
                    path, body = "/v1/me", None
                else:  # "health": the HTTP stack alone, no store, no authentication
                    path, body = "/health", None
                sent += 1
                try:
                    status, payload = await client.post(path, body)
                except Exception as exc:  # transport failure or timeout: an error, reported
                    status, payload = 0, f"{type(exc).__name__}: {exc}".encode()
                ended = time.perf_counter()
                if began < measure_from:
                    continue
                outcome.latencies.append(ended - began)
                outcome.statuses[status] += 1
                outcome.last_completion = max(outcome.last_completion, ended)
                if 200 <= status < 300 and mix in WRITES:
                    position = int(json.loads(payload)["position"])
                    if outcome.first_position is None or position < outcome.first_position:
                        outcome.first_position = position
                    if outcome.last_position is None or position > outcome.last_position:
                        outcome.last_position = position
                elif not 200 <= status < 300 and len(outcome.error_samples) < 5:
                    outcome.error_samples.append(f"{status}: {payload[:300]!r}")

        async def window_marks() -> dict[str, Any]:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu_from = resource.getrusage(resource.RUSAGE_SELF)
            print("MEASURE_START", flush=True)
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
            cpu_to = resource.getrusage(resource.RUSAGE_SELF)
            print("MEASURE_END", flush=True)
            return {"cpu_seconds": (cpu_to.ru_utime - cpu_from.ru_utime)
                    + (cpu_to.ru_stime - cpu_from.ru_stime)}

        marks, *_ = await asyncio.gather(window_marks(), *(client_loop(i) for i in range(clients)))
    finally:
        for connection in connections:
            await connection.close()
        if httpx_client is not None:
            await httpx_client.aclose()

    elapsed = max(outcome.last_completion, stop_at) - measure_from
    completed = sum(outcome.statuses.values())
    ok = sum(n for status, n in outcome.statuses.items() if 200 <= status < 300)
    return {
        "impl": impl,
        "mix": mix,
        "clients": clients,
        "customers_registered": sum(len(p) for p in pools),
        "setup_seconds": round(setup_seconds, 2),
        "seconds": round(elapsed, 3),
        "requests": completed,
        "ok": ok,
        "errors": completed - ok,
        "statuses": {str(k): v for k, v in sorted(outcome.statuses.items())},
        "error_samples": outcome.error_samples,
        "inline_registrations": outcome.inline_registrations,
        "first_position": outcome.first_position,
        "last_position": outcome.last_position,
        "position_span": (outcome.last_position - outcome.first_position + 1
                          if outcome.first_position is not None
                          and outcome.last_position is not None else None),
        "latency_ms": latency_summary(outcome.latencies),
        "loadgen_cpu_seconds": round(marks["cpu_seconds"], 3),
    }


def main() -> None:
    config = json.loads(sys.argv[1])
    result = run_sync(config)
    print("RESULT " + json.dumps(result), flush=True)


def run_sync(config: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(run(config))


if __name__ == "__main__":
    main()
