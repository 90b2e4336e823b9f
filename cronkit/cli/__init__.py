"""The command line: commands.py declares the commands cron and scripts call, fastpath.py answers them without typer, app.py is the typer app."""
