"""Typer options from a frozen config dataclass: one option per field, nothing typed twice.

:func:`config_options` decorates a command that takes one config instance (parameter
``config``): the command's signature, as typer reads it, gets one option per field instead —
``--field-name`` with the field's type and default and, as help, the comment written after the
field in the class body (``steps: int = 5000  # Adam steps ...``). The command receives the
config built from them, so the dataclass's own ``__post_init__`` checks every value (one
``ValueError`` line, shown by :func:`shadownets.cli._common.handle_errors`).

>>> @handle_errors                                       # doctest: +SKIP
... @config_options(InvertConfig, exclude=("method",))
... def leakage_command(model: str = typer.Option(...), config: InvertConfig = None): ...

Supported field types: ``int``, ``float``, ``str``, ``bool`` (a ``--name/--no-name`` flag),
``X | None`` of the first three, ``str | float`` (a number when the text is one, else the text)
and ``tuple[X, ...]`` of the first three (comma-separated: ``--seeds 0,1,2``). Any other type,
or a field whose command line says it differently (``--labels all`` for ``n_labels=None``), is
given a :class:`Parsed`: the option's own type and default, and how its value becomes the
field's. An option named otherwise than its field keeps its name through ``names``.

A comment may go on over comment-only lines whose text starts in the comment's column. In a
comment, an upper-case name of a tuple of strings defined in (or imported into) the
dataclass's module (``# one of METHODS``) is shown as its items (``one of shadow | optimize |
...``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import re
import sys
import textwrap
import tokenize
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

__all__ = ["Parsed", "config_options", "field_comments", "field_help"]

F = TypeVar("F", bound=Callable[..., Any])

_SCALARS = (int, float, str, bool)
_ITEMS = (int, float, str)
_CONSTANT = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
_UNIONS = (typing.Union, types.UnionType)


@dataclass(frozen=True)
class Parsed:
    """How a field is given on the command line where the option is not the field's type.

    The option takes values of ``kind`` (``str``, ``int``, ``float``, or ``X | None``) with
    default ``default``; ``parse`` turns the value given into the field's value (a bad one:
    one-line ``ValueError``). ``parse(default)`` must give the field's default (checked when
    the command is decorated, so the default shown in ``--help`` cannot drift).
    """

    parse: Callable[[Any], Any]
    default: Any
    kind: Any = str


def _own_comments(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, tuple[int, str, bool]] = {}  # line -> (text column, text, alone)
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            body = tok.string[1:]
            column = tok.start[1] + 1 + len(body) - len(body.lstrip())
            comments[tok.start[0]] = (column, body.strip(), tok.start[0] not in code_lines)
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code_lines.add(tok.start[0])
    body = ast.parse(source).body[0]
    out = {}
    for node in getattr(body, "body", ()):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = node.end_lineno or node.lineno
            if line not in comments or comments[line][2]:
                continue
            column, text, _ = comments[line]
            parts = [text]
            while (line + 1) in comments and comments[line + 1][2] \
                    and comments[line + 1][0] == column:  # a continuation line
                line += 1
                parts.append(comments[line][1])
            if text:
                out[node.target.id] = " ".join(parts)
    return out


def field_comments(cls: type) -> dict[str, str]:
    """The comment after each field of dataclass ``cls`` on the field's last source line (and
    its continuation lines), inherited fields included (``{}`` when the source is not
    available); fields without one are left out."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            out.update(_own_comments(klass))
    return out


def _expand_constants(text: str, module: types.ModuleType | None) -> str:
    def item(match: re.Match) -> str:
        value = getattr(module, match.group(0), None)
        if isinstance(value, (tuple, list)) and value and all(isinstance(v, str)
                                                              for v in value):
            return " | ".join(value)
        return match.group(0)

    return _CONSTANT.sub(item, text) if module is not None else text


def field_help(cls: type, name: str, comments: Mapping[str, str] | None = None) -> str:
    """The help text of field ``name``: its comment as a sentence (an ASCII first letter
    capitalised, a full stop added), module constants expanded; ``""`` without a comment."""
    text = (field_comments(cls) if comments is None else comments).get(name, "")
    if not text:
        return ""
    text = _expand_constants(text, sys.modules.get(cls.__module__))
    if text[0].isascii():  # "λ_TV ..." stays lower-case (its capital is another symbol)
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _items(flag: str, kind: type, text: str) -> tuple[Any, ...]:
    """The comma-separated values of ``text`` as a tuple of ``kind``."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{flag} must be a comma-separated list; got {text!r}")
    try:
        return tuple(kind(s) for s in items)
    except ValueError:
        what = "ints" if kind is int else "numbers"
        raise ValueError(f"{flag} must be comma-separated {what}; got {text!r}") from None


def _text_or_number(kind: type, text: str) -> str | int | float:
    try:
        return kind(text)
    except ValueError:
        return text


def _default(cls: type, f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{cls.__name__}.{f.name} has no default; a command-line option needs one")


def _derived(cls: type, name: str, hint: Any, flag: str, default: Any) -> Parsed | None:
    """The option of a field of a supported type: ``None`` for a plain scalar option (its
    type and default the field's), else a :class:`Parsed`; other types are refused."""
    args = typing.get_args(hint)
    rest = [a for a in args if a is not type(None)]
    if hint in _SCALARS:
        return None
    if typing.get_origin(hint) in _UNIONS:
        if type(None) in args and len(rest) == 1 and rest[0] in _ITEMS:
            return None
        if type(None) not in args and len(rest) == 2 and str in rest:
            number = rest[1 - rest.index(str)]
            if number in (int, float):
                return Parsed(functools.partial(_text_or_number, number), str(default))
    elif (typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis
          and args[0] in _ITEMS and isinstance(default, tuple)):
        return Parsed(functools.partial(_items, flag, args[0]), ",".join(map(str, default)))
    raise TypeError(f"{cls.__name__}.{name}: type {hint!r} has no command-line option; "
                    "supported: int, float, str, bool, X | None of int, float, str, str | float "
                    "and tuple[X, ...] of int, float, str (else give a Parsed)")


def _option(cls: type, f: dataclasses.Field, hint: Any, help_text: str, flag: str | None,
            parsed: Parsed | None) -> tuple[inspect.Parameter, Callable[[Any], Any] | None]:
    """The typer parameter of field ``f`` and how its value becomes the field's (or None)."""
    default = _default(cls, f)
    flag = flag or "--" + f.name.replace("_", "-")
    parsed = parsed or _derived(cls, f.name, hint, flag, default)
    if parsed is None:
        kind, value = hint, default
    else:
        kind, value = parsed.kind, parsed.default
        try:
            ok = parsed.parse(value) == default
        except ValueError as exc:
            raise TypeError(f"{cls.__name__}.{f.name}: the option's default {value!r} is "
                            f"refused ({exc})") from None
        if not ok:
            raise TypeError(f"{cls.__name__}.{f.name}: the option's default {value!r} gives "
                            f"{parsed.parse(value)!r}, not the field's default {default!r}")
    decl = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
    param = inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                              default=typer.Option(value, decl, help=help_text),
                              annotation=kind)
    return param, None if parsed is None else parsed.parse


def config_options(cls: type, *, fields: Sequence[str] | None = None,
                   exclude: Sequence[str] = (), param: str = "config",
                   notes: Mapping[str, str] | None = None,
                   helps: Mapping[str, str] | None = None,
                   names: Mapping[str, str] | None = None,
                   parsers: Mapping[str, Parsed] | None = None) -> Callable[[F], F]:
    """Decorator giving a typer command one option per field of the dataclass ``cls``.

    Parameters
    ----------
    cls : type
        A dataclass whose fields all have defaults (e.g. a frozen config).
    fields : sequence of str, optional
        The fields offered, in this order (default: every field, in class order).
    exclude : sequence of str
        Fields not offered (they keep their defaults).
    param : str, default "config"
        The decorated command's parameter that receives ``cls(**options)``; the options
        take its place in the signature. Decorators stack (one per config, each its
        ``param``).
    notes : mapping str -> str, optional
        Text added after a field's help where the command gives it a meaning of its own.
    helps : mapping str -> str, optional
        A field's whole help, for a comment that does not read right on a command line
        (e.g. one pointing at the class docstring); use sparingly.
    names : mapping str -> str, optional
        The option of a field whose name on the command line is not ``--field-name``
        (e.g. ``{"n_labels": "--labels"}``, an older option kept).
    parsers : mapping str -> Parsed, optional
        Fields given on the command line as another type (see :class:`Parsed`).

    Raises
    ------
    TypeError
        At decoration: an unknown field, a field without a default or of a type with no
        option, a :class:`Parsed` default that does not give the field's default, ``param``
        not a parameter of the command, or an option name the command already has.
    """
    all_fields = {f.name: f for f in dataclasses.fields(cls)}
    chosen = list(all_fields) if fields is None else list(fields)
    unknown = sorted(set(chosen) - set(all_fields)) + sorted(set(exclude) - set(all_fields))
    given = set(notes or {}) | set(helps or {}) | set(names or {}) | set(parsers or {})
    unknown += sorted(given - set(all_fields))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}; fields: {list(all_fields)}")
    chosen = [n for n in chosen if n not in set(exclude)]
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    options, parse = [], {}
    for name in chosen:
        text = (helps or {}).get(name) or field_help(cls, name, comments)
        if notes and name in notes:
            text = f"{text} {notes[name]}".strip()
        option, parse[name] = _option(cls, all_fields[name], hints[name], text,
                                      (names or {}).get(name), (parsers or {}).get(name))
        options.append(option)

    def decorator(func: F) -> F:
        sig = inspect.signature(func, eval_str=True)
        if param not in sig.parameters:
            raise TypeError(f"{func.__name__} has no parameter {param!r} to receive the "
                            f"{cls.__name__}")
        clash = sorted(set(chosen) & (set(sig.parameters) - {param}))
        if clash:
            raise TypeError(f"{func.__name__} already has parameter(s) {clash}; exclude them "
                            f"from the {cls.__name__} options")
        params = []
        for p in sig.parameters.values():
            if p.name == param:
                params.extend(options)
            else:  # typer passes everything by keyword
                params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            values = {}
            for name in chosen:
                value = kwargs.pop(name)
                values[name] = value if parse[name] is None else parse[name](value)
            return func(**kwargs, **{param: cls(**values)})

        # typer reads the signature (its annotations resolved here) and the annotations
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params
                                   if p.annotation is not inspect.Parameter.empty}
        return wrapper  # type: ignore[return-value]

    return decorator
