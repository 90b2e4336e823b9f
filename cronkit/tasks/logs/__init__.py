"""daily-log-pruning: delete, compress, rotate and cap the log files of the log directory.

Vocabulary (also in the README, "Maintenance tasks"):

- A **rotated** file is one whose name carries a rotation mark, optionally followed by a
  compression suffix (`.gz .bz2 .xz .zst .lz4`): `app.log.3`, `app.log-20240501`,
  `app.log-20240501-040000`, `app.log.2024-05-01`, `app.log.2024-05-01_13`, the daily files
  of winston and friends (`app-2024-05-01.log`, `app.20240501.log`), or a bare `app.log.gz`.
  Its **log** (the group `max_files` counts in) is the name without those marks: `app.log`.
- Every other regular file is a **live log**: the file a writer appends to. A live log is never
  deleted or compressed; when it outgrows `max_file_size_mb` it is rotated by copy-truncate
  (copied to `<name>-YYYYMMDD-HHMMSS`, then truncated in place), so writers holding it open
  keep working.
- A rotated file is **in use**, and left alone, when a process this user can inspect holds it
  open for writing (`/proc/<pid>/fd` + `fdinfo`, a few milliseconds on a busy host) or when
  it was modified less than `ACTIVE_WINDOW_SECONDS` ago (which also covers writers of other
  users that /proc does not show, such as a daemon still writing to `app.log.1` before
  logrotate's postrotate signal reopened its file).

Safety with hostile contents: every path below the log directory is opened relative to a
directory file descriptor with O_NOFOLLOW, so no symlink is ever followed (a link, including
one made of `..` that points out of the directory, is reported and left alone); files with
several hard links are never read, copied or truncated (the other name may be outside);
other file systems mounted inside the directory are not entered.

One module per job:

- task:              the task itself: the directory pass, then the run log's retention
- policy:            the task's options, checked
- names:             which names are rotated files, and the log each belongs to
- scan:              the walk over the directory (no link followed, no other file system)
- pruning:           the decisions: rotate, delete by age and count, compress; in-use checks
- writers:           which files a visible process holds open for writing (/proc)
- fileops:           the file operations relative to a directory fd: copy-truncate, gzip
- report:            the counts and skipped paths that become the run's result
- runlog_retention:  the run log's own retention (SPEC 7)
"""
