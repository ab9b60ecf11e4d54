"""The asyncio client: ``await AsyncClient(url).classify("photo.jpg")``, the same surface as Client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from nsfw_client import _core, errors
from nsfw_client._core import Outcome, Source
from nsfw_client.result import Result


class AsyncClient:
    """A connection pool to one service, for one event loop; ``await close()`` (or ``async with``) when done.

    ``retries``: how often a request refused as temporarily busy (503 ``overloaded``, 429
    ``rate_limited``...) or never connected is sent again; ``max_retry_after``: the longest wait
    (seconds) a ``Retry-After`` may ask for, beyond which the error is raised at once.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        max_retry_after: float = 30.0,
        batch_size: int = _core.DEFAULT_BATCH,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.batch_size = batch_size
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=_core.headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def classify(
        self,
        source: Source,
        *,
        model: str | None = None,
        adult_threshold: float | None = None,
        safe_threshold: float | None = None,
    ) -> Result:
        """One image or video (a URL, a path, bytes or a binary file); its error is raised."""
        params = _core.options(model, adult_threshold, safe_threshold)
        outcome = (await self._batch([_core.item(source)], params))[0]
        if isinstance(outcome, errors.APIError):
            raise outcome
        return outcome

    async def classify_many(
        self,
        sources: Sequence[Source],
        *,
        concurrency: int = 4,
        model: str | None = None,
        adult_threshold: float | None = None,
        safe_threshold: float | None = None,
    ) -> list[Outcome]:
        """Many sources in /v1 batches, ``concurrency`` requests at a time; one outcome per source, in order.

        An item that failed is its exception object in the list (not raised); a failure of a whole
        request (unauthorized, service down) is raised.
        """
        params = _core.options(model, adult_threshold, safe_threshold)
        found: dict[int, Outcome] = {}

        gate = asyncio.Semaphore(max(1, concurrency))

        async def run(indexes: list[int]) -> None:
            async with gate:
                done = await self._batch([_core.item(sources[n]) for n in indexes], params)
            found.update(zip(indexes, done))

        await asyncio.gather(*(run(indexes) for indexes in _core.batches(sources, self.batch_size)))
        return [found[n] for n in range(len(sources))]

    async def predict_url(self, url: str, *, model: str | None = None) -> dict[str, float]:
        """The original contract, ``POST /predict?url=``: the five class probabilities."""
        params = {"url": url, **_core.options(model, None, None)}
        return dict(_core.check(await self._send(method="POST", url="/predict", params=params)))

    async def health(self) -> bool:
        """Whether the service answers ``GET /health`` (False when it cannot be reached)."""
        return await self._probe("/health")

    async def ready(self) -> bool:
        """Whether the service's model is loaded (``GET /ready``)."""
        return await self._probe("/ready")

    async def models(self) -> list[dict[str, Any]]:
        """The served models (``GET /v1/models``)."""
        return list(_core.check(await self._send(method="GET", url="/v1/models"))["models"])

    async def _probe(self, path: str) -> bool:
        try:
            return (await self._http.get(path)).is_success
        except httpx.TransportError:
            return False

    async def _batch(self, items: list[_core.Item], params: dict[str, str]) -> list[Outcome]:
        """One /v1 request's outcomes; items the service was too busy for are sent again, as requests are."""
        outcomes = await self._request(items, params)
        for attempt in range(self.retries):
            again = _core.items_to_retry(outcomes)
            if not again:
                break
            await asyncio.sleep(min(self.max_retry_after, 0.25 * 2**attempt))
            for n, outcome in zip(again, await self._request([items[n] for n in again], params)):
                outcomes[n] = outcome
        return outcomes

    async def _request(self, items: list[_core.Item], params: dict[str, str]) -> list[Outcome]:
        try:
            return _core.outcomes(await self._send(**_core.classify_request(items, params)))
        except errors.APIError as error:
            size = _core.smaller_batch(error, len(items))
            if size is None:
                raise
            self.batch_size = min(self.batch_size, size)
            parts = [items[start : start + size] for start in range(0, len(items), size)]
            return [outcome for part in parts for outcome in await self._request(part, params)]

    async def _send(self, **request: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(**request)
            except httpx.ConnectError as exc:
                delay = _core.connect_delay(attempt, self.retries)
                if delay is None:
                    raise errors.ServiceUnreachable(f"{self.base_url}: {exc}") from exc
            except httpx.TransportError as exc:
                raise errors.ServiceUnreachable(f"{self.base_url}: {exc!r}") from exc
            else:
                if response.is_success:
                    return response
                error = _core.error_of(response)
                delay = _core.retry_delay(error, attempt, self.retries, self.max_retry_after)
                if delay is None:
                    raise error
            await asyncio.sleep(delay)
            attempt += 1
