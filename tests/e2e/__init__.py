"""Whole-product flows: install.sh and its locks, a first day, the real cron daemon, an upgrade."""
