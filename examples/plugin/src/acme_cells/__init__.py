"""Acme's Cellwright plugin: robot models `mock.acme_conveyor` (an IO component) and
`mock.acme_axis` (an Arm), and the `feed_part` skill."""
