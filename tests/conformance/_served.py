"""What a real driver's environment gives the suite: a device or controller on loopback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Served(NamedTuple):
    """The robot config that reaches the server, and how to close it and to break and
    restore the link to it (for `check_link_loss`)."""

    config: dict[str, Any]
    close: Callable[[], None]
    break_link: Callable[[], None]
    restore_link: Callable[[], None]
