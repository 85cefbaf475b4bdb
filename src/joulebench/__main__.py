"""``python -m joulebench`` = the ``joulebench`` command."""

from joulebench.entry import main

main()
