"""The one family of user-facing errors; cli.main turns them into a message and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BUG = 3
# Prompts show a validation error on one line of the terminal: 80 columns, and room to spare.
SHORT_WIDTH = 78


class CxgenError(Exception):
    """An error the user can act on: printed as one line, exits with `exit_code`."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CxgenError):
    """Bad input: a wrong answer, option or path. Nothing has been written."""

    exit_code = EXIT_USAGE


class InvalidAnswer(UsageError):
    """An answer failed validation."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {key} {value!r}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason

    @property
    def short(self) -> str:
        """The item and the reason, for a prompt that already shows which question it is: one
        line of at most SHORT_WIDTH characters (a long item loses its middle to an ellipsis)."""
        item = repr(self.value)
        room = SHORT_WIDTH - len(self.reason) - 2
        if len(item) > room >= 9:
            head = (room - 1) // 2
            item = item[:head] + "\N{HORIZONTAL ELLIPSIS}" + item[len(item) - (room - 1 - head) :]
        return f"{item}: {self.reason}"


@contextmanager
def copier_errors(error_type: type[CxgenError], prefix: str = "") -> Iterator[None]:
    """Copier's failures as one-line cxgen errors of `error_type`; ^C stays an interrupt."""
    import copier.errors

    try:
        yield
    except copier.errors.CopierAnswersInterrupt as error:
        raise KeyboardInterrupt from error
    except (ValueError, copier.errors.CopierError) as error:
        raise error_type(prefix + str(error).splitlines()[0]) from error
