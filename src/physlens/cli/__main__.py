"""``python -m physlens.cli`` runs the command line."""

from physlens.cli import main

main()
