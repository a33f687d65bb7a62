"""Acme's Cellwright plugin: the `mock.acme_conveyor` robot model and the `feed_part` skill."""
