"""The synchronous client: ``Client("http://127.0.0.1:8080").classify("photo.jpg").verdict``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from nsfw_client import _core, errors
from nsfw_client._core import Outcome, Source
from nsfw_client.result import Result


class Client:
    """A connection pool to one service. Thread-safe; close it (or use ``with``) when done.

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.batch_size = batch_size
        self._http = httpx.Client(
            base_url=self.base_url, headers=_core.headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def classify(
        self,
        source: Source,
        *,
        model: str | None = None,
        adult_threshold: float | None = None,
        safe_threshold: float | None = None,
    ) -> Result:
        """One image or video (a URL, a path, bytes or a binary file); its error is raised."""
        params = _core.options(model, adult_threshold, safe_threshold)
        outcome = self._batch([_core.item(source)], params)[0]
        if isinstance(outcome, errors.APIError):
            raise outcome
        return outcome

    def classify_many(
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

        def run(indexes: list[int]) -> None:
            done = self._batch([_core.item(sources[n]) for n in indexes], params)
            found.update(zip(indexes, done))

        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            list(pool.map(run, _core.batches(sources, self.batch_size)))
        return [found[n] for n in range(len(sources))]

    def predict_url(self, url: str, *, model: str | None = None) -> dict[str, float]:
        """The original contract, ``POST /predict?url=``: the five class probabilities."""
        params = {"url": url, **_core.options(model, None, None)}
        return dict(_core.check(self._send(method="POST", url="/predict", params=params)))

    def health(self) -> bool:
        """Whether the service answers ``GET /health`` (False when it cannot be reached)."""
        return self._probe("/health")

    def ready(self) -> bool:
        """Whether the service's model is loaded (``GET /ready``)."""
        return self._probe("/ready")

    def models(self) -> list[dict[str, Any]]:
        """The served models (``GET /v1/models``)."""
        return list(_core.check(self._send(method="GET", url="/v1/models"))["models"])

    def _probe(self, path: str) -> bool:
        try:
            return self._http.get(path).is_success
        except httpx.TransportError:
            return False

    def _batch(self, items: list[_core.Item], params: dict[str, str]) -> list[Outcome]:
        """One /v1 request's outcomes; items the service was too busy for are sent again, as requests are."""
        outcomes = self._request(items, params)
        for attempt in range(self.retries):
            again = _core.items_to_retry(outcomes)
            if not again:
                break
            time.sleep(min(self.max_retry_after, 0.25 * 2**attempt))
            for n, outcome in zip(again, self._request([items[n] for n in again], params)):
                outcomes[n] = outcome
        return outcomes

    def _request(self, items: list[_core.Item], params: dict[str, str]) -> list[Outcome]:
        try:
            return _core.outcomes(self._send(**_core.classify_request(items, params)))
        except errors.APIError as error:
            size = _core.smaller_batch(error, len(items))
            if size is None:
                raise
            self.batch_size = min(self.batch_size, size)
            parts = [items[start : start + size] for start in range(0, len(items), size)]
            return [outcome for part in parts for outcome in self._request(part, params)]

    def _send(self, **request: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(**request)
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
            time.sleep(delay)
            attempt += 1
