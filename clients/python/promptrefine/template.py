"""The server's template rules (crates/core/src/template), ported line by line.

A variable is ``{{name}}`` (ASCII whitespace allowed inside the braces); a
name starts with a letter or ``_`` and continues with letters, digits, ``_``
and ``.``. Anything else between braces is text. ``\\{{`` escapes: before a
``{{`` each ``\\\\`` is one backslash and an odd one makes the braces literal.
Values are inserted verbatim. A missing value is an error naming every
missing variable, in order of first appearance.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

MAX_RENDERED_BYTES = 4 * 1024 * 1024
_WS = " \t\n\r\x0c"  # Rust's is_ascii_whitespace


class RenderError(ValueError):
    """Base of the render errors (the server answers them with 422)."""


class MissingVariables(RenderError):
    def __init__(self, names: List[str]):
        super().__init__("missing values for variables: " + ", ".join(names))
        self.names = names


class RenderedTooLarge(RenderError):
    def __init__(self, limit: int):
        super().__init__(f"the rendered text would be larger than {limit} bytes")
        self.limit = limit


def _is_name_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_.")


def is_variable_name(name: str) -> bool:
    return bool(name) and name[0].isascii() and (name[0].isalpha() or name[0] == "_") and all(
        _is_name_char(c) for c in name
    )


def _parse_tag(t: str, start: int) -> Optional[Tuple[str, int]]:
    i = start
    while i < len(t) and t[i] in _WS:
        i += 1
    j = i
    while j < len(t) and _is_name_char(t[j]):
        j += 1
    name = t[i:j]
    if not is_variable_name(name):
        return None
    k = j
    while k < len(t) and t[k] in _WS:
        k += 1
    if t.startswith("}}", k):
        return name, k + 2
    return None


def _scan(t: str):
    """Yields ("text", s) and ("var", name) pieces, as the server's scan."""
    pending = 0
    search = 0
    while True:
        open_ = t.find("{{", search)
        if open_ < 0:
            break
        b = 0
        while open_ - b - 1 >= pending and t[open_ - b - 1] == "\\":
            b += 1
        kept_end = open_ - b + b // 2
        escaped = b % 2 == 1
        tag = None if escaped else _parse_tag(t, open_ + 2)
        if b > 0 or tag is not None:
            if kept_end > pending:
                yield "text", t[pending:kept_end]
            pending = open_
        if tag is not None:
            yield "var", tag[0]
            pending = tag[1]
            search = pending
        elif escaped:
            search = open_ + 2
        else:
            search = open_ + 1
    if pending < len(t):
        yield "text", t[pending:]


def variables(template: str) -> List[str]:
    seen: Dict[str, None] = {}
    for kind, v in _scan(template):
        if kind == "var":
            seen.setdefault(v, None)
    return list(seen)


def render_texts(texts: List[str], values: Mapping[str, str], limit: int = MAX_RENDERED_BYTES) -> List[str]:
    """Renders several texts (a chat's messages) under one cap, as the server."""
    missing: Dict[str, None] = {}
    used = 0
    out: List[str] = []
    for t in texts:
        parts: List[str] = []
        for kind, v in _scan(t):
            if kind == "text":
                used += len(v.encode())
                parts.append(v)
            elif v in values:
                used += len(str(values[v]).encode())
                parts.append(str(values[v]))
            else:
                missing.setdefault(v, None)
        out.append("".join(parts))
    if missing:
        raise MissingVariables(list(missing))
    if used > limit:
        raise RenderedTooLarge(limit)
    return out


def render(template: str, values: Mapping[str, str]) -> str:
    return render_texts([template], values)[0]
