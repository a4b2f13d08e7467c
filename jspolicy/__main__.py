"""``python -m jspolicy``: the same command line as the ``jspolicy`` script."""

from jspolicy.cli.main import entry_point

entry_point()
