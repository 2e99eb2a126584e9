"""ASP.NET-style route templates and route selection.

Supported template syntax (a practical subset of what the Functions host
accepts):

* literal segments, matched case-insensitively: ``videos/latest``
* parameters: ``{video_id}``; with inline constraints ``{id:int}``,
  ``{name:alpha:maxlength(10)}``, ``{key:guid}``, ``{x:regex(^a+$)}``, ...
* optional parameters ``{id?}`` and defaults ``{page=1}`` (trailing segments)
* catch-all parameters ``{*path}`` / ``{**path}`` (last segment)
* complex segments such as ``{name}.{ext}``

Precedence follows ASP.NET: segment by segment, literals beat constrained
parameters, which beat plain parameters, which beat catch-alls.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger("local_host")

Validator = Callable[[str], bool]

_FLOAT_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT_RE = re.compile(r"[-+]?\d+")
_ALPHA_RE = re.compile(r"[A-Za-z]+")
_GUID_RE = re.compile(
    r"[({]?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}[)}]?"
)


class RouteTemplateError(ValueError):
    """The route template cannot be parsed."""


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Param:
    name: str
    constraints: tuple[str, ...]
    validators: tuple[Validator, ...]
    optional: bool
    default: str | None
    catch_all: bool


_Part = _Literal | _Param


def _is_int(value: str) -> bool:
    return _INT_RE.fullmatch(value) is not None


def _int_args(name: str, args: str | None, count: tuple[int, ...]) -> list[int]:
    try:
        numbers = [int(item.strip()) for item in (args or "").split(",") if item.strip()]
    except ValueError as exc:
        raise RouteTemplateError(f"constraint {name}({args}) needs integer arguments") from exc
    if len(numbers) not in count:
        raise RouteTemplateError(f"constraint {name}({args}) has the wrong number of arguments")
    return numbers


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _make_validator(name: str, args: str | None) -> Validator | None:
    """Build the validator of one inline constraint (None when it is unknown)."""
    simple: dict[str, Validator] = {
        "int": _is_int,
        "long": _is_int,
        "bool": lambda v: v.lower() in {"true", "false"},
        "alpha": lambda v: _ALPHA_RE.fullmatch(v) is not None,
        "guid": lambda v: _GUID_RE.fullmatch(v) is not None,
        "decimal": lambda v: _FLOAT_RE.fullmatch(v) is not None,
        "double": lambda v: _FLOAT_RE.fullmatch(v) is not None,
        "float": lambda v: _FLOAT_RE.fullmatch(v) is not None,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if name in simple:
        return simple[name]
    if name in {"min", "max"}:
        (bound,) = _int_args(name, args, (1,))
        if name == "min":
            return lambda v: _is_int(v) and int(v) >= bound
        return lambda v: _is_int(v) and int(v) <= bound
    if name == "range":
        low, high = _int_args(name, args, (2,))
        return lambda v: _is_int(v) and low <= int(v) <= high
    if name == "minlength":
        (size,) = _int_args(name, args, (1,))
        return lambda v: len(v) >= size
    if name == "maxlength":
        (size,) = _int_args(name, args, (1,))
        return lambda v: len(v) <= size
    if name == "length":
        sizes = _int_args(name, args, (1, 2))
        low, high = (sizes[0], sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1])
        return lambda v: low <= len(v) <= high
    if name == "regex":
        try:
            pattern = re.compile(args or "", re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"invalid regex constraint {args!r}: {exc}") from exc
        return lambda v: pattern.search(v) is not None
    logger.warning("Unknown route constraint '%s' is ignored by the local host.", name)
    return None


def _split_outside_parens(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_param(body: str, template: str) -> _Param:
    text = body.strip()
    catch_all = False
    if text.startswith("*"):
        catch_all = True
        text = text.lstrip("*")
    default: str | None = None
    pieces = _split_outside_parens(text, "=")
    if len(pieces) > 1:
        text, default = pieces[0], "=".join(pieces[1:])
    optional = False
    if text.endswith("?"):
        optional = True
        text = text[:-1]
    name, *raw_constraints = _split_outside_parens(text, ":")
    name = name.strip()
    if not name or not re.fullmatch(r"[A-Za-z0-9_\-.]+", name):
        raise RouteTemplateError(f"invalid parameter name {{{body}}} in route '{template}'")
    constraints: list[str] = []
    validators: list[Validator] = []
    for raw in raw_constraints:
        raw = raw.strip()
        match = re.fullmatch(r"([A-Za-z]+)(?:\((.*)\))?", raw, re.DOTALL)
        if match is None:
            raise RouteTemplateError(f"invalid constraint '{raw}' in route '{template}'")
        constraints.append(raw)
        validator = _make_validator(match.group(1).lower(), match.group(2))
        if validator is not None:
            validators.append(validator)
    return _Param(name, tuple(constraints), tuple(validators), optional, default, catch_all)


def _parse_segment(segment: str, template: str) -> list[_Part]:
    parts: list[_Part] = []
    literal: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        nxt = segment[i + 1] if i + 1 < len(segment) else ""
        if char == "{" and nxt == "{":
            literal.append("{")
            i += 2
        elif char == "}" and nxt == "}":
            literal.append("}")
            i += 2
        elif char == "{":
            if literal:
                parts.append(_Literal("".join(literal)))
                literal = []
            body: list[str] = []
            i += 1
            while True:
                if i >= len(segment):
                    raise RouteTemplateError(f"unclosed '{{' in route '{template}'")
                if segment[i] == "}" and segment[i + 1 : i + 2] == "}":
                    body.append("}")
                    i += 2
                elif segment[i] == "{" and segment[i + 1 : i + 2] == "{":
                    body.append("{")
                    i += 2
                elif segment[i] == "}":
                    i += 1
                    break
                else:
                    body.append(segment[i])
                    i += 1
            if parts and isinstance(parts[-1], _Param):
                raise RouteTemplateError(
                    f"two parameters must be separated by a literal in route '{template}'"
                )
            parts.append(_parse_param("".join(body), template))
        elif char == "}":
            raise RouteTemplateError(f"unmatched '}}' in route '{template}'")
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append(_Literal("".join(literal)))
    return parts


def _segment_digit(parts: list[_Part]) -> int:
    """ASP.NET inbound precedence digit of one segment (lower wins)."""
    if len(parts) > 1:
        return 2
    part = parts[0]
    if isinstance(part, _Literal):
        return 1
    if part.catch_all:
        return 4 if part.constraints else 5
    return 2 if part.constraints else 3


class RouteTemplate:
    """A compiled route template; :meth:`match` returns route params or None."""

    def __init__(self, template: str) -> None:
        self.template = normalize_template(template)
        self._params: dict[str, _Param] = {}
        self._groups: dict[str, str] = {}
        segments = [] if self.template == "" else self.template.split("/")
        pieces: list[str] = []
        digits: list[int] = []
        trailing_optional = False
        for index, segment in enumerate(segments):
            if segment == "":
                raise RouteTemplateError(f"empty segment in route '{template}'")
            parts = _parse_segment(segment, template)
            digits.append(_segment_digit(parts))
            sep = "/" if index else ""
            single = parts[0] if len(parts) == 1 else None
            is_last = index == len(segments) - 1
            if isinstance(single, _Param) and (
                single.catch_all or single.optional or single.default is not None
            ):
                if single.catch_all and not is_last:
                    raise RouteTemplateError(
                        f"a catch-all parameter must be the last segment of route '{template}'"
                    )
                group = self._add_param(single, template)
                inner = ".*" if single.catch_all else "[^/]+"
                pieces.append(f"(?:{sep}(?P<{group}>{inner}))?")
                trailing_optional = True
                continue
            if trailing_optional:
                raise RouteTemplateError(
                    f"only trailing segments may be optional in route '{template}'"
                )
            regex = [sep]
            for part in parts:
                if isinstance(part, _Literal):
                    regex.append(re.escape(part.text))
                    continue
                if part.catch_all:
                    raise RouteTemplateError(
                        f"a catch-all parameter must be alone in its segment in '{template}'"
                    )
                group = self._add_param(part, template)
                inner = "[^/]+" if len(parts) == 1 else "[^/]+?"
                regex.append(f"(?P<{group}>{inner}){'?' if part.optional else ''}")
            pieces.append("".join(regex))
        self._regex = re.compile("^" + "".join(pieces) + "$", re.IGNORECASE | re.DOTALL)
        self.precedence: tuple[int, ...] = tuple(digits)

    def _add_param(self, param: _Param, template: str) -> str:
        if param.name.lower() in {name.lower() for name in self._params}:
            raise RouteTemplateError(f"duplicate parameter '{param.name}' in route '{template}'")
        group = f"p{len(self._groups)}"
        self._groups[group] = param.name
        self._params[param.name] = param
        return group

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the template's parameters, in order."""
        return tuple(self._params)

    def match(self, path: str) -> dict[str, str] | None:
        """Match a path relative to the route prefix (no leading or trailing slash).

        Returns the route parameters (absent optional parameters are omitted,
        defaults applied), or None when the path or a constraint does not match.
        """
        found = self._regex.match(path)
        if found is None:
            return None
        params: dict[str, str] = {}
        for group, name in self._groups.items():
            value = found.group(group)
            param = self._params[name]
            if value is None or (param.catch_all and value == ""):
                if param.default is not None:
                    params[name] = param.default
                continue
            if not all(check(value) for check in param.validators):
                return None
            params[name] = value
        return params

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"


def normalize_template(template: str) -> str:
    """Strip surrounding whitespace, a leading ``~/`` or ``/`` and trailing ``/``."""
    text = template.strip()
    if text.startswith("~/"):
        text = text[2:]
    return text.strip("/")


def relative_path(path: str, prefix: str) -> str | None:
    """Remove the route prefix from a request path.

    Returns the remainder without leading/trailing slash, or None when the
    path is outside the prefix. Matching of the prefix is case-insensitive.
    """
    if not path.startswith("/"):
        path = "/" + path
    if prefix:
        base = "/" + prefix.strip("/")
        lowered = path.lower()
        if lowered in (base.lower(), base.lower() + "/"):
            return ""
        if not lowered.startswith(base.lower() + "/"):
            return None
        rest = path[len(base) + 1 :]
    else:
        rest = path[1:]
    if rest.endswith("/"):
        rest = rest[:-1]
    return rest


@dataclass(frozen=True)
class RouteEntry[T]:
    """One routable target: its template, allowed methods (None = all), payload."""

    template: RouteTemplate
    methods: frozenset[str] | None
    target: T

    def allows(self, method: str) -> bool:
        """Whether the entry accepts the HTTP method."""
        return self.methods is None or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch[T]:
    """A successful resolution: the entry and the route parameters."""

    entry: RouteEntry[T]
    params: Mapping[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    """The path matched at least one route, none of which accepts the method."""

    allowed: tuple[str, ...]


class RouteTable[T]:
    """Routes ordered by ASP.NET precedence."""

    def __init__(self, entries: Iterable[RouteEntry[T]]) -> None:
        self.entries: list[RouteEntry[T]] = sorted(
            entries, key=lambda e: (e.template.precedence, e.template.template.lower())
        )

    def resolve(self, method: str, path: str) -> RouteMatch[T] | MethodNotAllowed | None:
        """Find the best route for ``method`` and a prefix-relative ``path``.

        Returns a :class:`RouteMatch`, :class:`MethodNotAllowed` when only the
        method is wrong, or None when no route matches the path.
        """
        allowed: set[str] = set()
        matched_path = False
        for entry in self.entries:
            params = entry.template.match(path)
            if params is None:
                continue
            if entry.allows(method):
                return RouteMatch(entry, params)
            matched_path = True
            allowed.update(entry.methods or ())
        if matched_path:
            return MethodNotAllowed(tuple(sorted(allowed)))
        return None
