"""Reading Server-Sent Events the way a front-end does: `event:` + `data:` lines, a blank line
ends an event."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str
    data: Any


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """Events from the lines of a `text/event-stream` body, as they arrive. Each data line must
    be one JSON document (the API's contract)."""
    name, data = "message", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield Event(name, json.loads("\n".join(data)))
            name, data = "message", list[str]()
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
    if data:
        yield Event(name, json.loads("\n".join(data)))


def events_of(body: bytes | str) -> list[Event]:
    """Every event of a complete `text/event-stream` body."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return list(parse_events(text.split("\n")))


def deltas_and_done(events: list[Event]) -> tuple[str, dict[str, Any]]:
    """The joined `delta` texts and the `done` data, asserting the contract's order: at least one
    delta, then exactly one done, last."""
    names = [event.name for event in events]
    assert names[-1] == "done", names
    assert names.count("done") == 1, names
    assert set(names[:-1]) == {"delta"}, names
    return "".join(event.data["text"] for event in events[:-1]), events[-1].data
