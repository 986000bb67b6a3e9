"""`python -m paperbot` runs the command line."""

from paperbot.cli.commands import main

main()
