"""Cellwright: orchestrates industrial robot cells and humanoid robots.

`cellwright.v1` holds the generated gRPC/protobuf API; the command line is `cellwright.cli`.
"""

__version__ = "0.1.0"
