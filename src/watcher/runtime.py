"""The edges a run needs: environment, store, transport. Kept apart from the pure core."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from watcher.config import Config, load_config, resolve_path
from watcher.store import Store
from watcher.transports import ConsoleTransport, SlackTransport, WebhookTransport

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


class SecretError(Exception):
    """The configured Prefect Secret block cannot be read. Never contains the secret."""


def slack_token(cfg: Config, env: Mapping[str, str] | None = None) -> str | None:
    """The bot token: the environment variable named by [slack] token_env, else the Prefect
    Secret block named by [slack] secret_block (or $WATCHER_SLACK_SECRET_BLOCK), else None."""
    env = os.environ if env is None else env
    token = env.get(cfg.slack.token_env, "").strip()
    if token:
        return token
    if cfg.slack.secret_block:
        return _secret_block(cfg.slack.secret_block) or None
    return None


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
        value = block.get()  # type: ignore[union-attr]
    except ValueError as exc:
        raise SecretError(f"Prefect Secret block {name!r} not found ({type(exc).__name__}); "
                          f"create it: prefect block create secret, or Secret(value=...)"
                          f".save({name!r})") from None
    except Exception as exc:
        raise SecretError(f"cannot read Prefect Secret block {name!r}: "
                          f"{type(exc).__name__}; is PREFECT_API_URL reachable?") from None
    return str(value).strip()


def make_transport(
    cfg: Config, env: Mapping[str, str] | None = None
) -> SlackTransport | WebhookTransport | ConsoleTransport:
    """Slack (bot token) when a token is set, else an incoming webhook when its URL is set,
    else the console."""
    env = os.environ if env is None else env
    token = slack_token(cfg, env)
    if token is not None:
        return SlackTransport(token, base_url=cfg.slack.base_url, timeout=cfg.slack.timeout)
    hook = env.get(cfg.slack.webhook_url_env or "", "").strip()
    if hook:
        return WebhookTransport(hook, timeout=cfg.slack.timeout)
    log.info("no Slack token in $%s: alerts go to the console", cfg.slack.token_env)
    return ConsoleTransport()


def config_dir() -> Path:
    return Path(__file__).resolve().parent
