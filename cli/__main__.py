"""`python -m drydock.cli` = the `drydock` command."""

from . import main

main()
