"""Packaged world files (YAML) and the layouts they refer to; they are registered in
`sim_worlds.registry.WORLDS`, so `load_world("arm_cell")` finds them by name."""
