"""Every stream's status with its message count up to date, read at scrape time.

``SupervisedStream`` counts data frames in plain integers and materialises a ``FeedStatus`` only
when asked; adapters report statuses (to the engine and in ``feeds()``) on state changes only,
so their message counts are stale between changes. The live counts are read from the adapter's
streams: ``adapter.streams()`` if the adapter offers it, else the ``SupervisedStream`` objects it
holds (attributes, and values of its dicts/lists) - read-only, once per scrape, off the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from terminal.model import FeedStatus
from terminal.venues.ws import SupervisedStream

__all__ = ["feed_statuses", "streams_of"]


def streams_of(adapter: Any, _depth: int = 0) -> Iterator[SupervisedStream]:
    """The websocket supervisors behind ``adapter`` (a paper broker's data adapter's too)."""
    own = getattr(adapter, "streams", None)
    if callable(own):
        yield from own()
        return
    if _depth > 1:
        return
    for value in list(getattr(adapter, "__dict__", {}).values()):
        if isinstance(value, SupervisedStream):
            yield value
        elif isinstance(value, Mapping):
            yield from _flatten(value.values())
        elif isinstance(value, list | tuple | set):
            yield from _flatten(value)
        elif hasattr(value, "feeds") and hasattr(value, "place_order"):  # a wrapped adapter
            yield from streams_of(value, _depth + 1)


def _flatten(values: Iterable[Any]) -> Iterator[SupervisedStream]:
    for v in list(values):
        if isinstance(v, SupervisedStream):
            yield v
        elif isinstance(v, list | tuple):
            yield from (s for s in v if isinstance(s, SupervisedStream))


def feed_statuses(
    adapters: Iterable[Any], reported: Mapping[str, FeedStatus] | None = None
) -> dict[str, FeedStatus]:
    """stream id -> status: what was reported (the engine's view, each adapter's ``feeds()``),
    with message counts and states from the live stream counters where they are newer."""
    out: dict[str, FeedStatus] = dict(reported or {})
    for adapter in adapters:
        try:
            out.update(adapter.feeds())
        except Exception:  # a closing adapter: its reported statuses stay
            pass
        for stream in streams_of(adapter):
            for st in (stream.status, *stream.key_status.values()):
                old = out.get(st.stream_id)
                if old is None or st.messages >= old.messages:
                    out[st.stream_id] = st
    return out
