"""docs/modbus.md shows the register maps exactly as registers.py defines them.

To regenerate the tables after changing a map: `python tests/drivers/test_modbus_docs.py`
prints them; paste each under its heading.
"""

from __future__ import annotations

from pathlib import Path

from cellwright.robots.drivers.modbus.registers import CONVEYOR, FAULT_TEXT, GRIPPER, RegisterMap, Table

DOC = Path(__file__).parents[2] / "docs" / "modbus.md"


def _scale(register_scale: float, si_unit: str) -> str:
    return f"{register_scale:g} {si_unit}" if si_unit else ""


def register_table(registers: RegisterMap) -> str:
    """The map as a Markdown table, one row per register, then one per bit field."""
    rows = ["| table | address | name | unit on the wire | 1 unit = | description |",
            "|---|---|---|---|---|---|"]
    for table in Table:
        for r in registers.in_table(table):
            rows.append(f"| {table.value} | {r.address} | {r.name} | {r.unit} | "
                        f"{_scale(r.scale, r.si_unit)} | {r.description} |")
    bits = ["| register | bits | name | meaning |", "|---|---|---|---|"]
    for r in registers.registers:
        for b in r.bits:
            span = str(b.offset) if b.width == 1 else f"{b.offset}-{b.offset + b.width - 1}"
            values = "; ".join(f"{k} = {v}" for k, v in b.values.items())
            bits.append(f"| {r.name} | {span} | {b.name} | {b.description}{': ' + values if values else ''} |")
    return "\n".join(rows + (["", *bits] if len(bits) > 2 else []))


def fault_table() -> str:
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {fault.value} | {fault.name} | {text} |" for fault, text in FAULT_TEXT.items()]
    return "\n".join(rows)


def test_the_docs_show_the_gripper_and_conveyor_register_maps_as_defined() -> None:
    text = DOC.read_text()
    for registers in (GRIPPER, CONVEYOR):
        assert register_table(registers) in text, (
            f"docs/modbus.md does not show the {registers.name} map as registers.py defines it; "
            f"run `python {Path(__file__).relative_to(DOC.parents[1])}` and paste the table")
    assert fault_table() in text, "docs/modbus.md does not list the fault codes as registers.py does"


if __name__ == "__main__":
    for registers in (GRIPPER, CONVEYOR):
        print(f"<!-- {registers.name} -->\n{register_table(registers)}\n")
    print(f"<!-- faults -->\n{fault_table()}")
