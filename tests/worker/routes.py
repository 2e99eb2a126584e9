"""Route templates as the Functions host matches them (the subset the harness needs).

Supports literal segments (case-insensitive), ``{name}``, inline constraints ``{id:int}`` (int,
long, bool, alpha, guid, double/float/decimal are checked; others accepted), optional ``{name?}``,
defaults ``{name=value}``, catch-alls ``{*rest}`` (last segment) and complex segments such as
``{name}.{ext}``. When several templates match, the most specific wins, segment by segment:
literal, then constrained parameter, then parameter, then catch-all (ASP.NET precedence).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": lambda v: re.fullmatch(r"[-+]?\d+", v) is not None,
    "long": lambda v: re.fullmatch(r"[-+]?\d+", v) is not None,
    "bool": lambda v: v.lower() in {"true", "false"},
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": lambda v: (
        re.fullmatch(r"[({]?[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}[)}]?", v)
        is not None
    ),
    "double": lambda v: re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v) is not None,
    "float": lambda v: re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v) is not None,
    "decimal": lambda v: re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)", v) is not None,
}
_PARAM_RE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class _Param:
    name: str
    group: str
    constraints: tuple[str, ...]
    default: str | None


@dataclass
class RouteTemplate:
    """One compiled route template (relative to the route prefix, no leading slash)."""

    template: str
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _params: list[_Param] = field(init=False, repr=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._params = []
        pattern = ""
        ranks: list[int] = []
        segments = [s for s in self.template.strip("/").split("/") if s != ""]
        for index, segment in enumerate(segments):
            whole = _PARAM_RE.fullmatch(segment)
            if whole is not None:
                param, optional, catch_all = self._param(whole.group(1))
                if catch_all and index != len(segments) - 1:
                    raise ValueError(f"catch-all must be last in route {self.template!r}")
                value = ".*" if catch_all else "[^/]+"
                capture = f"(?P<{param.group}>{value})"
                sep = "/" if index else ""
                if optional or catch_all or param.default is not None:
                    pattern += f"(?:{sep}{capture})?" if index else f"{capture}?"
                else:
                    pattern += sep + capture
                ranks.append(3 if catch_all else 1 if param.constraints else 2)
                continue
            # literal or complex segment ("{name}.{ext}")
            pattern += "/" if index else ""
            position = 0
            for match in _PARAM_RE.finditer(segment):
                pattern += re.escape(segment[position : match.start()])
                param, _, _ = self._param(match.group(1))
                pattern += f"(?P<{param.group}>[^/]+?)"
                position = match.end()
            pattern += re.escape(segment[position:])
            ranks.append(0 if position == 0 else 1)
        self._regex = re.compile(f"^{pattern}/?$", re.IGNORECASE | re.DOTALL)
        self.precedence = tuple(ranks)

    def _param(self, body: str) -> tuple[_Param, bool, bool]:
        text = body.strip()
        catch_all = text.startswith("*")
        text = text.lstrip("*")
        default: str | None = None
        if "=" in text:
            text, default = text.split("=", 1)
        optional = text.endswith("?")
        text = text.rstrip("?")
        name, *constraints = text.split(":")
        param = _Param(name.strip(), f"p{len(self._params)}", tuple(constraints), default)
        self._params.append(param)
        return param, optional, catch_all

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if ``path`` (relative, no query) matches, else None."""
        found = self._regex.match(path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for param in self._params:
            raw = found.group(param.group)
            if raw is None:
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            for constraint in param.constraints:
                check = _CONSTRAINTS.get(constraint.split("(", 1)[0].strip().lower())
                if check is not None and not check(value):
                    return None
            values[param.name] = value
        return values
