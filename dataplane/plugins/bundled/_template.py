"""Kong's request-transformer templates: ``$(expression)`` in a config value, rendered for each
request (Kong renders them with penlight's pl.template, the expression being Lua).

Gantry evaluates the part of Lua's expressions such templates use:

- the tables ``headers`` (names in any case, ``_`` for ``-``), ``query_params``,
  ``uri_captures`` (numbered from 0, and named) and ``shared`` (``kong.ctx.shared``);
- indexing with ``.name``, ``["name"]``, ``['name']`` and ``[number]`` (a repeated header or
  query argument is a list, indexed from 1);
- string and number literals, ``nil``, ``true``, ``false``; ``or``, ``and``, ``not``, ``==``,
  ``~=``, ``..`` (concatenation), parentheses, and ``type(x)``.

Other Lua (arithmetic, the string library, other functions, assignments) is refused when the
config is validated: Kong's sandbox would fail each request instead. A value renders as Lua's
``tostring(value or '')`` does: nil and false as nothing, numbers as Lua writes them; a list
(a repeated header) as its values joined with ``", "``. What Lua cannot evaluate (indexing nil,
concatenating nil) raises ``TemplateError`` per request, which answers 500 as in Kong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dataplane.schema.messages import fmt_number

ROOTS = ("headers", "query_params", "uri_captures", "shared")
_KEYWORDS = {"nil": None, "true": True, "false": False}
_TOKEN = re.compile(
    r"""\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<op>\.\.|==|~=|[.()\[\]]))""",
    re.X,
)
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_SUBSET = "Gantry's templates read headers, query_params, uri_captures and shared with . [] or and not == ~= .. type()"

Lookup = Callable[[str], Any]  # a root table by name, loaded when a template first uses it
Expr = Callable[[Lookup], Any]


class TemplateError(Exception):
    """A template Gantry cannot compile, or one that fails for this request."""


class Headers(dict[str, Any]):
    """The ``headers`` table: looked up as Kong's get_headers table is, whatever the case."""


def tostring(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    if isinstance(value, list):
        return ", ".join(tostring(one) for one in value)
    if isinstance(value, dict):
        raise TemplateError("a table cannot be rendered")
    return str(value)


class Template:
    """One config value, compiled once: literal text and ``$(...)`` expressions."""

    __slots__ = ("source", "parts")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str | Expr] = []
        at = 0
        for start, end in _expressions(source):
            if start > at:
                self.parts.append(source[at:start])
            self.parts.append(_Parser(source[start + 2 : end - 1]).parse())
            at = end
        if at < len(source):
            self.parts.append(source[at:])

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(part, str) for part in self.parts)

    def render(self, lookup: Lookup) -> str:
        return "".join(part if isinstance(part, str) else tostring(part(lookup)) for part in self.parts)


def _expressions(source: str) -> list[tuple[int, int]]:
    """Where each ``$( )`` is: parentheses balanced as Lua's ``%b()`` counts them (quotes do not
    hide one), an unbalanced ``$(`` being literal text."""
    found = []
    at = source.find("$(")
    while at >= 0:
        depth, end = 0, -1
        for i in range(at + 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end < 0:
            break
        found.append((at, end))
        at = source.find("$(", end)
    return found


class _Parser:
    """Recursive descent over Lua's precedence: or < and < == ~= < .. < not < primary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        at = 0
        while text[at:].strip():
            match = _TOKEN.match(text, at)
            if match is None or match.lastgroup is None:
                raise TemplateError(f"unexpected '{text[at:].strip()[:10]}' in '{text}' ({_SUBSET})")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            at = match.end()
        self.at = 0

    def parse(self) -> Expr:
        expr = self.either()
        if self.at < len(self.tokens):
            raise TemplateError(f"unexpected '{self.tokens[self.at][1]}' in '{self.text}' ({_SUBSET})")
        return expr

    def peek(self, value: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at][1] == value and self.tokens[self.at][0] != "string"

    def take(self, value: str) -> bool:
        if self.peek(value):
            self.at += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.take(value):
            raise TemplateError(f"'{value}' expected in '{self.text}'")

    def either(self) -> Expr:
        left = self.both()
        while self.take("or"):
            left = _or(left, self.both())
        return left

    def both(self) -> Expr:
        left = self.comparison()
        while self.take("and"):
            left = _and(left, self.comparison())
        return left

    def comparison(self) -> Expr:
        left = self.concat()
        for op, negate in (("==", False), ("~=", True)):
            if self.take(op):
                return _equal(left, self.concat(), negate)
        return left

    def concat(self) -> Expr:
        left = self.unary()
        if self.take(".."):
            return _concat(left, self.concat())  # right-associative, as in Lua
        return left

    def unary(self) -> Expr:
        if self.take("not"):
            operand = self.unary()
            return lambda lookup: not _truthy(operand(lookup))
        return self.primary()

    def primary(self) -> Expr:
        if self.at >= len(self.tokens):
            raise TemplateError(f"an expression is missing in '{self.text}'")
        kind, value = self.tokens[self.at]
        self.at += 1
        if kind == "number":
            return _constant(float(value) if "." in value else int(value))
        if kind == "string":
            return _constant(_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), value[1:-1]))
        if value == "(":
            inner = self.either()
            self.expect(")")
            return self.suffixes(inner)
        if kind == "name" and value in _KEYWORDS:
            return _constant(_KEYWORDS[value])
        if kind == "name" and value == "type" and self.take("("):
            operand = self.either()
            self.expect(")")
            return lambda lookup: _type(operand(lookup))
        if kind == "name" and value in ROOTS:
            return self.suffixes(lambda lookup: lookup(value))
        raise TemplateError(f"'{value}' is not available in '{self.text}' ({_SUBSET})")

    def suffixes(self, expr: Expr) -> Expr:
        while True:
            if self.take("."):
                kind, name = self.tokens[self.at] if self.at < len(self.tokens) else ("", "")
                if kind != "name":
                    raise TemplateError(f"a name is expected after '.' in '{self.text}'")
                self.at += 1
                expr = _index(expr, _constant(name))
            elif self.take("["):
                key = self.either()
                self.expect("]")
                expr = _index(expr, key)
            else:
                return expr


def _constant(value: Any) -> Expr:
    return lambda lookup: value


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


def _or(left: Expr, right: Expr) -> Expr:
    def either(lookup: Lookup) -> Any:
        value = left(lookup)
        return value if _truthy(value) else right(lookup)

    return either


def _and(left: Expr, right: Expr) -> Expr:
    def both(lookup: Lookup) -> Any:
        value = left(lookup)
        return right(lookup) if _truthy(value) else value

    return both


def _equal(left: Expr, right: Expr, negate: bool) -> Expr:
    def equal(lookup: Lookup) -> bool:
        a, b = left(lookup), right(lookup)
        kind = _type(a)
        # Lua compares numbers by value whatever their subtype, tables by identity
        same = kind == _type(b) and (a is b if kind == "table" else a == b)
        return same != negate

    return equal


def _concat(left: Expr, right: Expr) -> Expr:
    def concat(lookup: Lookup) -> str:
        return _piece(left(lookup)) + _piece(right(lookup))

    return concat


def _piece(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt_number(value)
    raise TemplateError(f"attempt to concatenate a {_type(value)} value")


def _index(table: Expr, key: Expr) -> Expr:
    def index(lookup: Lookup) -> Any:
        value, name = table(lookup), key(lookup)
        if isinstance(name, float) and name.is_integer():
            name = int(name)
        if isinstance(value, Headers) and isinstance(name, str):
            return value.get(name.lower().replace("_", "-"))
        if isinstance(value, dict):
            return value.get(name)
        if isinstance(value, list):
            return value[name - 1] if isinstance(name, int) and 1 <= name <= len(value) else None
        if isinstance(value, str):
            return None  # Lua finds the string library there, which templates do not get
        raise TemplateError(f"attempt to index a {_type(value)} value")

    return index


def _type(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "table"
