"""The `paperbot` command line and its terminal rendering (typer, click and rich are imported only here)."""
