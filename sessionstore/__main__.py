"""``python -m sessionstore`` runs the command line."""

from sessionstore.cli import main

main()
