"""Typed errors. Every message says what went wrong *and what to do about it*."""

from __future__ import annotations


class ShopsenseError(Exception):
    """Base class for all errors raised on purpose by shopsense."""


class ConfigError(ShopsenseError):
    """A setting is missing or invalid."""


class DataError(ShopsenseError):
    """Input data cannot be used. Carries the field, the row and the fix when known."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None,
                 source: str | None = None, hint: str | None = None) -> None:
        parts = []
        if source is not None:
            parts.append(f"{source}")
        if row is not None:
            parts.append(f"row {row}")
        if field is not None:
            parts.append(f"field '{field}'")
        where = (", ".join(parts) + ": ") if parts else ""
        text = where + message
        if hint:
            text += f" — {hint}"
        super().__init__(text)
        self.field, self.row, self.source, self.hint = field, row, source, hint


class StoreError(ShopsenseError):
    """The store cannot be opened or written."""


class NotFittedError(ShopsenseError):
    """A model or index was used before it was built or loaded."""

    def __init__(self, what: str, hint: str = "run `shopsense train` (or call .fit()) first") -> None:
        super().__init__(f"{what} is not fitted — {hint}")


class UnknownIdError(ShopsenseError, KeyError):
    """An id (item, user) is not known to the store or model."""

    def __init__(self, kind: str, value: str, hint: str | None = None) -> None:
        msg = f"unknown {kind} id {value!r}"
        if hint:
            msg += f" — {hint}"
        super().__init__(msg)
        self.kind, self.value = kind, value

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class ModelLoadError(ShopsenseError):
    """A pretrained model could not be loaded offline."""
