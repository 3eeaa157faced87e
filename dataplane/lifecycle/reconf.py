"""What a running node takes from its kong.conf when reloaded (SIGHUP, `reload`)."""

from __future__ import annotations

import dataclasses
import logging

from dataplane import logs
from dataplane.conf import Conf, ConfError, load_conf
from dataplane.logs import NOTICE

log = logging.getLogger("gantry.reload")

# Keys a reload applies in the running supervisor; the others (listeners, workers, plugins...)
# are read by processes at their start and take effect at the next restart.
RELOADED = ("declarative_config", "log_level")


def reread(conf: Conf, conf_path: str | None) -> Conf:
    """The running conf with the reloadable keys of the file as it is now; a file that no
    longer loads changes nothing (logged). Keys changed that a reload cannot apply are named."""
    if conf_path is None:
        return conf
    try:
        new = load_conf(conf_path, overrides={"prefix": conf.prefix})
    except ConfError as err:
        log.error("reload: %s does not load, keeping the running configuration: %s", conf_path, err)
        return conf
    changed = sorted(
        key for key in set(conf.raw) | set(new.raw) if key != "prefix" and conf.raw.get(key) != new.raw.get(key)
    )
    later = [key for key in changed if key not in RELOADED]
    if later:
        log.log(NOTICE, "reload: %s changed %s; these take effect at the next restart", conf_path, ", ".join(later))
    if new.log_level != conf.log_level:
        logs.set_level(new.log_level)
        log.log(NOTICE, "reload: log_level is now %s", new.log_level)
    return dataclasses.replace(conf, declarative_config=new.declarative_config, log_level=new.log_level)
