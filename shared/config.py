"""The one configuration resolver: command-line option > CLAUDE_CODEX_* environment > config file > default.

The config file is ``--config``, else ``$CLAUDE_CODEX_CONFIG``, else the per-user one; never a file in the
working directory, which for relay-stdio is whatever project the agent was started in.

Every program (relay-stdio, relay-web, relay) calls :func:`resolve_config` once at start-up and passes
the resulting :class:`Config` down; nothing else reads the environment or a config file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from shared.errors import ConfigError, InvalidInput
from shared.explain import json_error_text
from shared.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LARGEST_MAX_MESSAGE_BYTES,
    normalize_sender,
    normalize_target,
)

APP_NAME = "claude-codex-relay"
ENV_PREFIX = "CLAUDE_CODEX_"
CONFIG_ENV = "CLAUDE_CODEX_CONFIG"
MB = 1024 * 1024


def default_data_dir() -> Path:
    """The per-user data dir (e.g. ~/.local/share/claude-codex-relay): independent of the working dir."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    """The per-user config file (e.g. ~/.config/claude-codex-relay/config.json)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.json"


# --- value parsers: (raw value, came from a string source?) -> value, or ValueError with the reason ---


def _parse_str(raw: Any, from_text: bool) -> str:
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw.strip()


def _parse_int(minimum: int, maximum: int | None = None) -> Callable[[Any, bool], int]:
    def parse(raw: Any, from_text: bool) -> int:
        if from_text and isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise ValueError("expected a whole number") from None
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("expected a whole number")
        if raw < minimum or (maximum is not None and raw > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ValueError(f"must be at least {minimum}{upper}")
        return raw

    return parse


def _parse_positive_float(raw: Any, from_text: bool) -> float:
    if from_text and isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError("expected a number")
    if not raw > 0 or raw != raw or raw == float("inf"):
        raise ValueError("must be a number greater than 0")
    return float(raw)


def _parse_bool(raw: Any, from_text: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if from_text and isinstance(raw, str):
        word = raw.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
    raise ValueError("expected true or false")


def _parse_list(raw: Any, from_text: bool) -> list[str]:
    if from_text and isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError("expected a list of strings")
    return [item.strip() for item in raw if item.strip()]


def _parse_channels(raw: Any, from_text: bool) -> list[str]:
    try:
        return [normalize_target(name) for name in _parse_list(raw, from_text)]
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _parse_sender(raw: Any, from_text: bool) -> str | None:
    text = _parse_str(raw, from_text)
    if not text:
        return None
    try:
        return normalize_sender(text)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _parse_optional_str(raw: Any, from_text: bool) -> str | None:
    return _parse_str(raw, from_text) or None


def _parse_path(raw: Any, from_text: bool) -> str:
    # Command-line options arrive as Path objects (click.Path(path_type=Path)), files and env as text.
    text = _parse_str(os.fspath(raw) if isinstance(raw, os.PathLike) else raw, from_text)
    if not text:
        raise ValueError("expected a path")
    return text


def _parse_store(raw: Any, from_text: bool) -> str | None:
    text = _parse_str(raw, from_text)
    if not text or text.lower() == "files":
        return None  # the JSONL files in data_dir, the embedded default
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "expected a PostgreSQL URL such as postgresql://user@host:5432/db?sslmode=verify-full "
            "(leave it unset for the JSONL files in data_dir)"
        )
    return text


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``: the form every printed or logged store takes."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{host}")
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))


_PATH_KEYS = {"data_dir", "log_path", "channel_log_path"}

# key -> (parser, default). A default of None for a path means "derived from data_dir".
KEYS: dict[str, tuple[Callable[[Any, bool], Any], Any]] = {
    "host": (_parse_str, "127.0.0.1"),
    "port": (_parse_int(1, 65535), 8010),
    "data_dir": (_parse_path, None),
    "store": (_parse_store, None),
    "log_path": (_parse_path, None),
    "log_max_mb": (_parse_positive_float, 25),
    "log_max_bytes": (_parse_int(1), None),
    "log_backup_count": (_parse_int(0, 1000), 10),
    "channel_log_path": (_parse_path, None),
    "channel_log_max_mb": (_parse_positive_float, 25),
    "channel_log_max_bytes": (_parse_int(1), None),
    "channel_log_backup_count": (_parse_int(0, 1000), 10),
    "channels": (_parse_channels, ["proj-x", "codex", "claude"]),
    "allowed_hosts": (_parse_list, []),
    "sender": (_parse_sender, None),
    "max_message_bytes": (_parse_int(1, LARGEST_MAX_MESSAGE_BYTES), DEFAULT_MAX_MESSAGE_BYTES),
    "auth_token": (_parse_optional_str, None),
    "fsync": (_parse_bool, False),
    "lock_timeout_s": (_parse_positive_float, 10.0),
}


@dataclass(frozen=True)
class Config:
    """The resolved configuration; ``sources`` says where each key's value came from."""

    host: str
    port: int
    data_dir: Path
    store: str | None = field(repr=False)  # a PostgreSQL URL (may hold a password); None = the files
    log_path: Path
    log_max_bytes: int
    log_backup_count: int
    channel_log_path: Path
    channel_log_max_bytes: int
    channel_log_backup_count: int
    channels: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    sender: str | None
    max_message_bytes: int
    auth_token: str | None = field(repr=False)
    fsync: bool
    lock_timeout_s: float
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def describe(self) -> list[tuple[str, str, str]]:
        """Rows of (key, shown value, source) for ``relay config``; the auth token is masked."""
        rows = []
        for key in _SHOWN_KEYS:
            if key in _SHOWN_AS_MB:  # the documented key; the legacy *_max_bytes set the same size
                size = getattr(self, _SHOWN_AS_MB[key])
                rows.append((key, f"{size / MB:g}", self.sources.get(_SHOWN_AS_MB[key], "default")))
                continue
            value = getattr(self, key)
            if key == "auth_token" and value:
                shown = "(set, hidden)"
            elif key == "store":
                shown = mask_password(value) if value else f"files in {self.data_dir}"
            elif isinstance(value, tuple):
                shown = ",".join(value) if value else "(none)"
            else:
                shown = "(none)" if value is None else str(value)
            rows.append((key, shown, self.sources.get(key, "default")))
        return rows


_SHOWN_KEYS = (
    "store", "data_dir", "host", "port", "channels", "allowed_hosts", "sender", "max_message_bytes",
    "auth_token", "fsync", "lock_timeout_s", "log_path", "log_max_mb", "log_backup_count",
    "channel_log_path", "channel_log_max_mb", "channel_log_backup_count",
)  # fmt: skip
_SHOWN_AS_MB = {"log_max_mb": "log_max_bytes", "channel_log_max_mb": "channel_log_max_bytes"}


_SIZE_STEMS = ("log", "channel_log")
_SIZE_PREFIXES = ("log_max_", "channel_log_max_")


@dataclass
class _Layer:
    name: str  # how a source is shown, e.g. "env CLAUDE_CODEX_PORT"
    values: dict[str, Any]
    from_text: bool
    base_dir: Path
    labels: dict[str, str]


def _parse_value(key: str, raw: Any, layer: _Layer) -> Any:
    parser, _ = KEYS[key]
    try:
        value = parser(raw, layer.from_text)
    except ValueError as exc:
        raise ConfigError(f"{key} = {raw!r} from {layer.labels[key]}: {exc}") from None
    if key in _PATH_KEYS:
        path = Path(value).expanduser()
        value = path if path.is_absolute() else layer.base_dir / path
    if key.endswith("_max_mb") and int(value * MB) < 1:
        raise ConfigError(f"{key} = {raw!r} from {layer.labels[key]}: must be at least 1 byte")
    return value


def _find_config_file(option: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    if option:
        path = Path(option).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise ConfigError(f"config file {path} (from --config) does not exist")
        return path
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV]).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise ConfigError(f"config file {path} (from {CONFIG_ENV}) does not exist")
        return path
    # Never a config.json found in the working dir: agents start relay-stdio inside the user's project,
    # and a project's own config.json (or a hostile one in a cloned repository) must not steer the relay.
    user = default_config_file()
    return user if user.is_file() else None


def ignored_local_config_note(config: Config, cwd: Path) -> str | None:
    """For ``relay config``: a note when the working dir holds a config.json, which is not read."""
    local = cwd / "config.json"
    if not local.is_file() or config.config_file == local.absolute():
        return None
    return (
        f"{local} is not read: the relay never takes its config from the working directory. "
        f"If it is meant for the relay, move it to {default_config_file()} or pass --config {local}"
    )


def _unknown_key_warning(path: Path, key: str) -> str:
    """The warning for a key the relay does not know, with the nearest known key when one is close."""
    text = f"config file {path}: unknown key {key!r} ignored"
    close = difflib.get_close_matches(key.lower(), KEYS, n=1, cutoff=0.6)
    return f"{text}; did you mean {close[0]!r}?" if close else f"{text} (known keys: {', '.join(KEYS)})"


def _load_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {json_error_text(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'config file {path} must hold a JSON object like {{"port": 8010}}')
    return data


def resolve_config(
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Resolve the configuration from its four layers.

    Args:
        options: command-line values by key (``None`` values are ignored); ``config`` names the file.
        env: the environment to read (``os.environ`` when omitted).
        cwd: the folder relative paths from options and the environment are taken from (the working dir
            when omitted). No config file is ever looked for there.

    Raises:
        ConfigError: a value cannot be used; the message names the key and where it came from.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    warnings: list[str] = []

    config_file = _find_config_file(opts.pop("config", None), env, cwd)
    layers: list[_Layer] = []
    if config_file is not None:
        data = _load_config_file(config_file)
        warnings.extend(_unknown_key_warning(config_file, key) for key in sorted(set(data) - set(KEYS)))
        values = {k: v for k, v in data.items() if k in KEYS}
        label = f"config file {config_file}"
        layers.append(_Layer(label, values, False, config_file.parent, dict.fromkeys(values, label)))
    # An empty variable counts as unset: launchers often pass VAR= for "not configured".
    env_values = {key: env[ENV_PREFIX + key.upper()] for key in KEYS if env.get(ENV_PREFIX + key.upper())}
    env_labels = {key: f"env {ENV_PREFIX}{key.upper()}" for key in env_values}
    layers.append(_Layer("environment", env_values, True, cwd, env_labels))
    unknown_opts = set(opts) - set(KEYS)
    if unknown_opts:
        raise ConfigError(f"unknown option key(s): {', '.join(sorted(unknown_opts))}")
    opt_labels = {key: f"option --{key.replace('_', '-')}" for key in opts}
    layers.append(_Layer("options", opts, False, cwd, opt_labels))

    resolved: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:  # lowest precedence first, so later layers overwrite
        parsed = {key: _parse_value(key, raw, layer) for key, raw in layer.values.items()}
        for stem in _SIZE_STEMS:  # *_max_mb and the legacy *_max_bytes fill one slot; _mb wins in a layer
            for key, scale in ((f"{stem}_max_mb", MB), (f"{stem}_max_bytes", 1)):
                if key in parsed:
                    resolved[f"{stem}_max_bytes"] = int(parsed[key] * scale)
                    sources[f"{stem}_max_bytes"] = layer.labels[key]
                    break
        for key, value in parsed.items():
            if not key.startswith(_SIZE_PREFIXES):
                resolved[key] = value
                sources[key] = layer.labels[key]

    def get(key: str) -> Any:
        return resolved[key] if key in resolved else KEYS[key][1]

    data_dir = Path(get("data_dir") or default_data_dir()).resolve()
    log_dir = data_dir / "log"
    for stem in _SIZE_STEMS:
        if f"{stem}_max_bytes" not in resolved:
            resolved[f"{stem}_max_bytes"] = int(KEYS[f"{stem}_max_mb"][1] * MB)
    return Config(
        host=get("host") or "127.0.0.1",
        port=get("port"),
        data_dir=data_dir,
        store=get("store"),
        log_path=Path(get("log_path") or log_dir / "claude_codex.log"),
        log_max_bytes=resolved["log_max_bytes"],
        log_backup_count=get("log_backup_count"),
        channel_log_path=Path(get("channel_log_path") or log_dir / "channel_messages.log"),
        channel_log_max_bytes=resolved["channel_log_max_bytes"],
        channel_log_backup_count=get("channel_log_backup_count"),
        channels=tuple(dict.fromkeys(get("channels"))),
        allowed_hosts=tuple(get("allowed_hosts")),
        sender=get("sender"),
        max_message_bytes=get("max_message_bytes"),
        auth_token=get("auth_token"),
        fsync=get("fsync"),
        lock_timeout_s=get("lock_timeout_s"),
        config_file=config_file,
        sources=sources,
        warnings=tuple(warnings),
    )
