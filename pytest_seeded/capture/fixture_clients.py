"""The clients the ``seeded_llm`` and ``seeded_async_llm`` fixtures hand out, and their
transports: each request goes to the running test's calls through the same core as every other
client's. One sync client serves the whole run (openai's lazily built resources are made once,
not per test); the real transport and SSL context behind it are made only when a call really
goes out, which replay never does."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

from pytest_seeded.capture.core import ahandle, handle
from pytest_seeded.capture.routing import owner

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from pytest_seeded.calls import TestCalls


class SeededTransport(httpx2.BaseTransport):
    """The fixture client's transport, one per run: every request goes to the running test's
    calls."""

    # The httpx2 seam leaves it alone: it routes to the test itself.
    routes_itself = True

    def __init__(self, real: Callable[[], httpx2.HTTPTransport]) -> None:
        self._real = real

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        calls = owner()
        if calls is None:
            raise RuntimeError(
                "pytest-seeded: the seeded_llm client was used outside the test that asked for "
                "it (after its teardown, or from another thread's test); ask for seeded_llm in "
                "the test that uses it"
            )
        return handle(calls, request, self._send)

    def _send(self, request: httpx2.Request) -> httpx2.Response:
        # Made on the first request that really goes out: replay never builds the transport
        # and its TLS context (0.07 s a run, 0.23 ms a call of a 300-test replay).
        return self._real().handle_request(request)


class AsyncSeededTransport(httpx2.AsyncBaseTransport):
    """The async fixture client's transport. Its real transport is made per test, because an
    async connection pool belongs to the event loop it was first used in; and it asks the
    server to close each connection, because a sync fixture teardown has no loop to close a
    pool in, and a pooled socket left open would warn (an error under filterwarnings=error)."""

    routes_itself = True

    def __init__(self, calls: TestCalls, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._calls = calls
        self._ssl_context = ssl_context
        self._real: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await ahandle(self._calls, request, self._send)

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        if self._real is None:
            self._real = httpx2.AsyncHTTPTransport(verify=self._ssl_context())
        request.headers["connection"] = "close"
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        if self._real is not None:
            await self._real.aclose()


class FixtureClients:
    """The run's fixture clients and what they share; closed when the run ends."""

    def __init__(self) -> None:
        self._real_sync: httpx2.HTTPTransport | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._client: OpenAI | None = None
        self._client_key: tuple[str | None, str | None] | None = None

    def real_sync_transport(self) -> httpx2.HTTPTransport:
        if self._real_sync is None:
            self._real_sync = httpx2.HTTPTransport(verify=self.ssl_context())
        return self._real_sync

    def ssl_context(self) -> ssl.SSLContext:
        """The run's one SSL context, as httpx2 builds its default (system CA store, SSL_CERT_*
        honoured). Building one reads the CA store, about 17 ms; the async fixture needs a new
        transport per test, since a connection pool belongs to one event loop, but not a new
        context: a context is not tied to a loop and may serve many connections."""
        if self._ssl_context is None:
            self._ssl_context = httpx2.create_ssl_context()
        return self._ssl_context

    def sync_client(self, api_key: str | None, base_url: str | None) -> OpenAI:
        """The seeded_llm client: one per run (and per key and base URL, if a test changes
        them), its transport routed to whichever test is running."""
        client = self._client
        if client is None or self._client_key != (api_key, base_url):
            from openai import OpenAI

            transport = SeededTransport(self.real_sync_transport)
            client = OpenAI(
                api_key=api_key, base_url=base_url, http_client=httpx2.Client(transport=transport)
            )
            self._client, self._client_key = client, (api_key, base_url)
        return client

    def async_client(self, calls: TestCalls) -> AsyncOpenAI:
        """The seeded_async_llm client: one per test (see AsyncSeededTransport); its key and
        base URL from the environment, which the run set (session.run_environment)."""
        from openai import AsyncOpenAI

        transport = AsyncSeededTransport(calls, self.ssl_context)
        return AsyncOpenAI(http_client=httpx2.AsyncClient(transport=transport))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._real_sync is not None:
            self._real_sync.close()
            self._real_sync = None
