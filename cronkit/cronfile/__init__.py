"""The crontab block cronkit installs: the pure block functions, crontab and cron.d I/O, install, drift."""
