"""`python -m paperbot` runs the command line."""

from paperbot.cli import main

main()
