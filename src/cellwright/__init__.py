"""Cellwright: orchestrates industrial robot cells (simulated today; real drivers and humanoid cells to come).

Layers, lowest first: `cellwright.v1` (generated gRPC/protobuf) and `cellwright.api`
(schema, structs, state-stream codec, client); `cellwright.robots`;
`cellwright.sim_worlds`; `cellwright.cells` and, apart, `cellwright.orchestrator`;
`cellwright.app` (command line, demo, reports) on top.
"""

__version__ = "0.2.0"
