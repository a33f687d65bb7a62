"""The application on top of every layer: the command line, the demo, process launching,
KPIs and reports."""
