"""The edges a run needs: environment, store, transport. Kept apart from the pure core."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from watcher.config import Config, load_config, resolve_path
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport

log = logging.getLogger("watcher")

# Set before Prefect is imported: offline telemetry logs tracebacks, and watcher's own loggers
# should reach Prefect's run logs.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "watcher",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def prefect_env_defaults(env: dict[str, str] | None = None) -> None:
    target = os.environ if env is None else env
    for key, value in PREFECT_DEFAULTS.items():
        target.setdefault(key, value)


def load(config_path: str | None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    return load_config(resolve_path(config_path, env), env)


def open_store(cfg: Config) -> Store:
    return Store(cfg.store.url)


def slack_token(cfg: Config, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    token = env.get(cfg.slack.token_env, "").strip()
    return token or None


def make_transport(
    cfg: Config, env: Mapping[str, str] | None = None
) -> SlackTransport | ConsoleTransport:
    """Slack when a token is set in the configured variable, else the console."""
    token = slack_token(cfg, env)
    if token is None:
        log.info("no Slack token in $%s: alerts go to the console", cfg.slack.token_env)
        return ConsoleTransport()
    return SlackTransport(token, base_url=cfg.slack.base_url, timeout=cfg.slack.timeout)


def config_dir() -> Path:
    return Path(__file__).resolve().parent
