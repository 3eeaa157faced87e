"""Node lifecycle: the pid file and lock on a prefix (`pidfile`), and Kong's start, stop,
quit, reload, restart, health and version commands (`control`)."""
