"""Real drivers: components that talk to hardware over industrial protocols.

    opcua/    robots (arm and gripper) through the OPC UA Robotics companion specification
              (OPC 40010) plus a few methods of our own namespace; docs/drivers.md
    modbus/   Modbus TCP devices: a gripper and a conveyor/IO block; docs/modbus.md

Each package also holds the server side (`server.py`) that the virtual controller and the
virtual devices use to serve a PyBullet-backed component under the same protocol, so a cell
configured with a real driver runs unchanged against simulation (virtual commissioning).
"""
