"""The error raised when a model (or a part of it) has no shadow net."""

from __future__ import annotations

__all__ = ["NotReversibleError"]


class NotReversibleError(ValueError):
    """An operation has no reverse rule; the message names the op and where it sits."""
