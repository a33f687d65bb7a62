"""Robots simulated in PyBullet (`pybullet.*` models).

The registry that maps model ids (`pybullet.panda`) to factories lives in
`cellwright.robots.registry`; it imports this package only when such a robot is built, so
listing or configuring robots never imports PyBullet.

    panda        PandaArm and PandaGripper: a Franka Panda as two components on one body
    presence     SimPresence: the world's workers from the simulator's ground truth
    kinematics   ShadowKinematics: IK/FK in a private PyBullet client
    _world       PhysicsWorld (what a simulated robot needs from its world), PeopleWorld
"""
