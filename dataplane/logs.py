"""Error-log set-up in the shape Kong's (nginx's) error.log has.

Lines read `2026/11/22 02:15:48 [warn] 1234#0: message`, so tools and habits that read Kong's
error log keep working. Levels are Kong's `log_level` names; `notice` sits between info and warn.
"""

from __future__ import annotations

import logging
import os
import sys
import time

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": NOTICE,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "crit": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emerg": logging.CRITICAL,
}

_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    NOTICE: "notice",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "crit",
}


class KongFormatter(logging.Formatter):
    """nginx's error-log line: time, [level], pid#worker: message."""

    def __init__(self, worker: int = 0) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(record.created))
        level = _NAMES.get(record.levelno, record.levelname.lower())
        line = f"{stamp} [{level}] {record.process}#{self.worker}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(level: str, error_log: str | None, *, worker: int = 0, echo: bool = True) -> None:
    """Send the process's logs to `error_log` (None or "off": nowhere) and, if echo, to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
    formatter = KongFormatter(worker)
    handlers: list[logging.Handler]
    if error_log and error_log != "off":
        if error_log in ("/dev/stderr", "stderr"):
            handlers = [logging.StreamHandler(sys.stderr)]
            echo = False
        else:
            os.makedirs(os.path.dirname(error_log) or ".", exist_ok=True)
            handlers = [logging.FileHandler(error_log)]
    else:
        handlers = []
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)


def set_level(level: str) -> None:
    """Change the process's log level (a reloaded log_level)."""
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
