"""`cronkit adopt`: a crontab's job lines taken in as command tasks (SPEC 17)."""
