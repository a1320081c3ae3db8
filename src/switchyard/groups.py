"""Unwrapping trio's exception groups where one failure is all there is to say."""

from __future__ import annotations


def sole_exception(group: BaseExceptionGroup) -> BaseException | None:
    """The one leaf exception of nested single-member groups, else None."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return None if isinstance(exc, BaseExceptionGroup) else exc
