"""Fetching prompts from a PromptRefine server, sync and async.

Policy, the same in both clients:

- Every answer is kept in memory with its ETag; a later ``get_prompt`` of the
  same key revalidates with ``If-None-Match`` (a 304 costs the server no
  database query) unless the copy is younger than ``max_age``.
- When the server cannot answer (connection error, timeout, 5xx), a copy no
  older than ``stale_for`` seconds is returned instead (``prompt.stale``).
- With no copy at all, a ``fallback`` given to ``get_prompt`` is returned
  (``prompt.from_fallback``), so an application starts while the server is down.
- ``watch(slug, label)`` (async client) follows the server's watch stream and
  refreshes the cached copy the moment the label moves.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import httpx

from .template import render_texts

Key = Tuple[str, str]


class PromptRefineError(Exception):
    """The server refused the request (4xx), with its error code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class Unavailable(PromptRefineError):
    """The server could not answer, and no usable copy or fallback exists."""


@dataclass
class Prompt:
    slug: str
    content: Union[str, List[Dict[str, str]]]
    settings: Dict[str, Any] = field(default_factory=dict)
    variables: List[str] = field(default_factory=list)
    version: Optional[int] = None
    label: Optional[str] = None
    id: Optional[str] = None
    title: Optional[str] = None
    etag: Optional[str] = None
    fetched_at: float = 0.0
    stale: bool = False
    from_fallback: bool = False

    @property
    def type(self) -> str:
        return "text" if isinstance(self.content, str) else "chat"

    def render(self, values: Mapping[str, str]) -> Union[str, List[Dict[str, str]]]:
        """The content with every variable filled in, by the server's rules
        (``MissingVariables`` names every missing one)."""
        if isinstance(self.content, str):
            return render_texts([self.content], values)[0]
        texts = render_texts([m["content"] for m in self.content], values)
        return [{"role": m["role"], "content": t} for m, t in zip(self.content, texts)]


def _from_answer(data: Dict[str, Any], etag: Optional[str]) -> Prompt:
    v = data["version"]
    return Prompt(
        slug=data["slug"],
        content=v["content"],
        settings=v.get("settings") or {},
        variables=v.get("variables") or [],
        version=v["version"],
        label=data.get("label"),
        id=data["id"],
        title=data.get("title"),
        etag=etag,
        fetched_at=time.monotonic(),
    )


def _key(slug: str, label: Optional[str], version: Optional[int]) -> Key:
    if label is not None and version is not None:
        raise ValueError("ask for a label or a version, not both")
    return (slug, f"#{version}" if version is not None else (label or "current"))


def _params(label: Optional[str], version: Optional[int]) -> Dict[str, str]:
    if version is not None:
        return {"version": str(version)}
    return {"label": label} if label else {}


def _error(res: httpx.Response) -> PromptRefineError:
    try:
        err = res.json()["error"]
        return PromptRefineError(res.status_code, err["code"], err["message"])
    except Exception:
        return PromptRefineError(res.status_code, "unknown", res.text[:200])


class _Cache:
    def __init__(self, max_age: float, stale_for: float):
        self.max_age = max_age
        self.stale_for = stale_for
        self.entries: Dict[Key, Prompt] = {}

    def fresh(self, key: Key) -> Optional[Prompt]:
        p = self.entries.get(key)
        if p is not None and time.monotonic() - p.fetched_at < self.max_age:
            return p
        return None

    def answered(self, key: Key, res: httpx.Response) -> Prompt:
        if res.status_code == 304 and key in self.entries:
            p = replace(self.entries[key], fetched_at=time.monotonic(), stale=False)
        elif res.status_code == 200:
            p = _from_answer(res.json()["data"], res.headers.get("etag"))
        else:
            # A 404 means it is gone: never serve a copy of a deleted prompt.
            self.entries.pop(key, None)
            raise _error(res)
        self.entries[key] = p
        return p

    def failed(self, key: Key, cause: Exception, fallback: Optional[Prompt]) -> Prompt:
        p = self.entries.get(key)
        if p is not None and time.monotonic() - p.fetched_at <= self.stale_for:
            return replace(p, stale=True)
        if fallback is not None:
            return replace(fallback, from_fallback=True)
        raise Unavailable(503, "unavailable", f"the server did not answer: {cause}") from cause


def _server_down(res: httpx.Response) -> bool:
    return res.status_code >= 500


class Client:
    """The synchronous client. ``max_age``: seconds a copy is used without
    asking the server (0: revalidate every time, a 304 is cheap);
    ``stale_for``: how old a copy may be when served because the server is down."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        max_age: float = 0.0,
        stale_for: float = 300.0,
        timeout: float = 5.0,
        http: Optional[httpx.Client] = None,
    ):
        self._cache = _Cache(max_age, stale_for)
        self._http = http or httpx.Client(
            base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=timeout
        )

    def get_prompt(
        self,
        slug: str,
        label: Optional[str] = None,
        version: Optional[int] = None,
        *,
        fallback: Optional[Prompt] = None,
    ) -> Prompt:
        key = _key(slug, label, version)
        hit = self._cache.fresh(key)
        if hit is not None:
            return hit
        headers = {}
        if key in self._cache.entries and self._cache.entries[key].etag:
            headers["if-none-match"] = self._cache.entries[key].etag
        try:
            res = self._http.get(
                f"/api/prompts/by-slug/{slug}", params=_params(label, version), headers=headers
            )
        except httpx.HTTPError as e:
            return self._cache.failed(key, e, fallback)
        if _server_down(res):
            return self._cache.failed(key, _error(res), fallback)
        return self._cache.answered(key, res)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: the same policy as [`Client`], plus ``watch``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        max_age: float = 0.0,
        stale_for: float = 300.0,
        timeout: float = 5.0,
        http: Optional[httpx.AsyncClient] = None,
    ):
        self._cache = _Cache(max_age, stale_for)
        self._http = http or httpx.AsyncClient(
            base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=timeout
        )
        self._watches: List[asyncio.Task] = []

    async def get_prompt(
        self,
        slug: str,
        label: Optional[str] = None,
        version: Optional[int] = None,
        *,
        fallback: Optional[Prompt] = None,
    ) -> Prompt:
        key = _key(slug, label, version)
        hit = self._cache.fresh(key)
        if hit is not None:
            return hit
        return await self._fetch(key, slug, label, version, fallback)

    async def _fetch(self, key, slug, label, version, fallback, force=False) -> Prompt:
        headers = {}
        cached = self._cache.entries.get(key)
        if cached is not None and cached.etag and not force:
            headers["if-none-match"] = cached.etag
        try:
            res = await self._http.get(
                f"/api/prompts/by-slug/{slug}", params=_params(label, version), headers=headers
            )
        except httpx.HTTPError as e:
            return self._cache.failed(key, e, fallback)
        if _server_down(res):
            return self._cache.failed(key, _error(res), fallback)
        return self._cache.answered(key, res)

    def watch(self, slug: str, label: Optional[str] = None, *, retry: float = 1.0) -> asyncio.Task:
        """Follows the watch stream in the background: every change refetches
        the cached copy. Reconnects with ``Last-Event-ID``. Cancel the task
        (or ``aclose``) to stop."""
        key = _key(slug, label, None)

        async def follow() -> None:
            last: Optional[str] = None
            while True:
                try:
                    headers = {"last-event-id": last} if last else {}
                    params = {"label": label} if label else {}
                    async with self._http.stream(
                        "GET", f"/api/prompts/by-slug/{slug}/watch", params=params,
                        headers=headers, timeout=None,
                    ) as res:
                        if res.status_code != 200:
                            raise _error(res)
                        event_id = None
                        async for line in res.aiter_lines():
                            if line.startswith("id:"):
                                event_id = line[3:].strip()
                            elif line == "" and event_id is not None:
                                last = event_id or None
                                event_id = None
                                cached = self._cache.entries.get(key)
                                if last is None:
                                    self._cache.entries.pop(key, None)
                                elif cached is None or cached.etag != last:
                                    await self._fetch(key, slug, label, None, None)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pass
                await asyncio.sleep(retry)

        task = asyncio.ensure_future(follow())
        self._watches.append(task)
        return task

    async def aclose(self) -> None:
        for t in self._watches:
            t.cancel()
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
