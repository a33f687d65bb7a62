"""Test kit for Cellwright components, cells and plugins.

    check_component(component, loop)   does a component keep its kind's contract?
    check_link_loss(component, loop, break_link, restore_link)
                                        is a lost connection an error (never a hang), and
                                        does activate() recover from it?
    wait_until / async_wait_until       wait for a condition, with a clear timeout message
    cell_in_state                       wait until the orchestrator sees a cell in a PackML state
    ScriptedCell                        the cell side of the Connect stream, step by step
    PlaneWorld                          a bare PyBullet world (a floor, boxes you add) for
                                        testing pybullet.* components without a world file

Plugin authors: run `check_component` on every component your robot model builds (see
`tests/conformance/test_components.py` for a suite over the registry).
"""

from cellwright.testing.conformance import check_component, check_link_loss
from cellwright.testing.scripted_cell import ScriptedCell
from cellwright.testing.waiting import async_wait_until, cell_in_state, wait_until
from cellwright.testing.worlds import PlaneWorld

__all__ = ["PlaneWorld", "ScriptedCell", "async_wait_until", "cell_in_state", "check_component",
           "check_link_loss", "wait_until"]
