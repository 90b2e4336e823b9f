"""cronkit's block in a crontab or a cron.d file: render it, find it, install it, take it out.

block.py (pure text functions), render.py (registry -> block), io.py (the crontab command and
cron.d files), state.py (install state, backups, lock, default inputs), install.py, drift.py
(the installed block against the registry).
"""
