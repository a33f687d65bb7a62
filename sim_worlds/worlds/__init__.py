"""Packaged world files (YAML); load them by name with `sim_worlds.load_world`."""
