"""Watching a cell's components for faults: a component that enters ERROR (a fall, a lost
driver, a crash in its control code) aborts the cell (PackML Abort), naming it and why.

A fallen humanoid must not be moved until a person has seen to it; a robot whose driver
died cannot be trusted to hold. Aborting stops the others and refuses work until an
operator Clears and Resets the cell (which fails again while the component stays in ERROR).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from cellwright.robots import Component, ControlLoop, Lifecycle

log = logging.getLogger(__name__)
WATCH_PERIOD_S = 0.02
"""How often (loop clock, and wall time while idle) components are looked at."""


class FaultWatch:
    """Calls `abort(component_name, reason)` on the asyncio loop, once per fault, when one of
    `components` enters ERROR.

    Args:
        loop: the control loop the components run on (the watch is its listener).
        components: what to watch.
        abort: called on `asyncio_loop` with the component's name and its error reason.
        asyncio_loop: the cell's event loop.
    """

    def __init__(self, loop: ControlLoop, components: Sequence[Component],
                 abort: Callable[[str, str], None], asyncio_loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._components = loop, tuple(components)
        self._abort, self._asyncio_loop = abort, asyncio_loop
        self._faulted: set[str] = set()
        loop.add_listener(self._check, WATCH_PERIOD_S)

    def close(self) -> None:
        self._loop.remove_listener(self._check)

    def _check(self, _now_s: float) -> None:
        for component in self._components:
            if component.lifecycle is not Lifecycle.ERROR:
                self._faulted.discard(component.name)
            elif component.name not in self._faulted:
                self._faulted.add(component.name)
                log.error("%s entered ERROR: %s; aborting the cell", component.name,
                          component.error_reason)
                self._asyncio_loop.call_soon_threadsafe(self._abort, component.name,
                                                        component.error_reason)
