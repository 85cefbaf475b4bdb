"""``python -m joulebench`` = the ``joulebench`` command."""

from joulebench.cli import main

main()
