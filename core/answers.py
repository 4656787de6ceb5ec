"""A JSON object out of a language model's free-form answer (the router's choice, a reviewer's verdict).

Real answers are not always bare JSON: models wrap it in a ```json fence, in some other fence, or put it in the
middle of a sentence. `extract_json` tries those shapes from the most to the least trustworthy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

# The language tag is optional and anything after it on the opening line (```json title="x") is ignored.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_json(text: str, prefer: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON object in `text`: the whole text, a ```json fence, any other fence, or an object in prose.

    Among the objects found in one shape, one that has one of the `prefer` keys wins, so an example object
    quoted before the real answer does not shadow it. ValueError when there is none.
    """
    fences = _FENCE.findall(text)
    shapes: list[list[dict[str, Any]]] = [
        _whole(text.strip()),
        [obj for lang, body in fences if lang.lower() == "json" for obj in _whole(body.strip())],
        [obj for lang, body in fences if lang.lower() != "json" for obj in _whole(body.strip())],
        list(_objects_in(text)),
    ]
    for objects in shapes:
        if objects:
            return next((obj for obj in objects if any(key in obj for key in prefer)), objects[0])
    raise ValueError(f"the answer holds no JSON object: {excerpt(text)}")


def _whole(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [value] if isinstance(value, dict) else []


def _objects_in(text: str) -> Iterator[dict[str, Any]]:
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            yield value
        position = text.find("{", end)


def excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
