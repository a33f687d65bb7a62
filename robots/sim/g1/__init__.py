"""The Unitree G1 humanoid simulated in PyBullet.

    body       G1Body: the one PyBullet body every G1 component drives; faults, payloads
    model      G1Model: Pinocchio kinematics (CoM, frames, Jacobians, leg IK)
    stability  support polygon, centre of pressure, stability margin (pure geometry)
    gait       footstep plans and the LIPM/DCM centre-of-mass trajectory
    wholebody  the per-tick whole-body controller of the legs
    legs       G1Legs: the legged base component (walk_to, stop, whole-body state)
"""
