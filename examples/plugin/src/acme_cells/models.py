"""The robot models of this plugin: the entry point `cellwright.robots: acme` names MODELS."""

from acme_cells import axis, conveyor

MODELS = [conveyor.MODEL, axis.MODEL]
