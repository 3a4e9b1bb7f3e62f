import json
from pathlib import Path

import pytest

from shared.config import MB, default_data_dir, resolve_config
from shared.errors import ConfigError


def write_config(folder: Path, data: object, name: str = "config.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_defaults_match_the_original(tmp_path: Path) -> None:
    config = resolve_config(env={}, cwd=tmp_path)
    assert (config.host, config.port) == ("127.0.0.1", 8010)
    assert config.channels == ("proj-x", "codex", "claude")
    assert config.allowed_hosts == ()
    assert config.log_max_bytes == config.channel_log_max_bytes == 25 * MB
    assert config.log_backup_count == config.channel_log_backup_count == 10
    assert config.max_message_bytes == 262144
    assert config.data_dir == default_data_dir().resolve()
    assert config.log_path == config.data_dir / "log" / "claude_codex.log"
    assert config.channel_log_path == config.data_dir / "log" / "channel_messages.log"
    assert config.sources == {}


def test_default_data_dir_does_not_depend_on_the_working_dir(tmp_path: Path) -> None:
    one = resolve_config(env={}, cwd=tmp_path / "project-a")
    two = resolve_config(env={}, cwd=tmp_path / "elsewhere" / "project-b")
    assert one.data_dir == two.data_dir
    assert tmp_path not in one.data_dir.parents


def test_environment_overrides_config_file_and_option_overrides_both(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"port": 9001, "host": "0.0.0.0", "sender": "file-sender"})
    env = {"CLAUDE_CODEX_CONFIG": str(path), "CLAUDE_CODEX_PORT": "9002"}
    config = resolve_config({"sender": "opt-sender"}, env=env, cwd=tmp_path)
    assert config.port == 9002
    assert config.sources["port"] == "env CLAUDE_CODEX_PORT"
    assert config.host == "0.0.0.0"
    assert config.sources["host"] == f"config file {path}"
    assert config.sender == "opt-sender"
    assert config.sources["sender"] == "option --sender"


def test_every_key_of_the_original_reads_its_environment_variable(tmp_path: Path) -> None:
    env = {
        "CLAUDE_CODEX_HOST": "0.0.0.0",
        "CLAUDE_CODEX_PORT": "8123",
        "CLAUDE_CODEX_LOG_PATH": "logs/tools.log",
        "CLAUDE_CODEX_LOG_MAX_MB": "2",
        "CLAUDE_CODEX_LOG_BACKUP_COUNT": "3",
        "CLAUDE_CODEX_CHANNEL_LOG_PATH": "/var/tmp/archive.log",
        "CLAUDE_CODEX_CHANNEL_LOG_MAX_MB": "0.5",
        "CLAUDE_CODEX_CHANNEL_LOG_BACKUP_COUNT": "4",
        "CLAUDE_CODEX_CHANNELS": "Alpha, beta ,",
        "CLAUDE_CODEX_ALLOWED_HOSTS": "192.168.2.3,relay.lan:8010",
        "CLAUDE_CODEX_DATA_DIR": str(tmp_path / "store"),
        "CLAUDE_CODEX_SENDER": "codex",
        "CLAUDE_CODEX_MAX_MESSAGE_BYTES": "1000",
        "CLAUDE_CODEX_AUTH_TOKEN": "s3cret",
        "CLAUDE_CODEX_FSYNC": "yes",
    }
    config = resolve_config(env=env, cwd=tmp_path)
    assert config.host == "0.0.0.0" and config.port == 8123
    assert config.log_path == tmp_path / "logs" / "tools.log"
    assert config.log_max_bytes == 2 * MB and config.log_backup_count == 3
    assert config.channel_log_path == Path("/var/tmp/archive.log")
    assert config.channel_log_max_bytes == MB // 2 and config.channel_log_backup_count == 4
    assert config.channels == ("alpha", "beta")
    assert config.allowed_hosts == ("192.168.2.3", "relay.lan:8010")
    assert config.data_dir == tmp_path / "store"
    assert config.sender == "codex" and config.max_message_bytes == 1000
    assert config.auth_token == "s3cret" and config.fsync is True


def test_legacy_max_bytes_keys_are_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"log_max_bytes": 4096, "channel_log_max_bytes": 8192})
    config = resolve_config(
        {"config": str(path)}, env={"CLAUDE_CODEX_CHANNEL_LOG_MAX_BYTES": "777"}, cwd=tmp_path
    )
    assert config.log_max_bytes == 4096
    assert config.channel_log_max_bytes == 777
    assert config.sources["channel_log_max_bytes"] == "env CLAUDE_CODEX_CHANNEL_LOG_MAX_BYTES"


def test_max_mb_wins_over_legacy_bytes_in_the_same_layer(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"log_max_bytes": 4096, "log_max_mb": 1})
    assert resolve_config({"config": str(path)}, env={}, cwd=tmp_path).log_max_bytes == MB


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    path = write_config(folder, {"data_dir": "store", "log_path": "logs/a.log"})
    config = resolve_config({"config": str(path)}, env={}, cwd=tmp_path / "somewhere-else")
    assert config.data_dir == folder / "store"
    assert config.log_path == folder / "logs" / "a.log"
    assert config.channel_log_path == folder / "store" / "log" / "channel_messages.log"


@pytest.mark.parametrize(
    "data",
    [
        {"name": "my-app", "port": "3000"},  # a project's own config.json: not ours, and invalid as ours
        {"data_dir": "./.relay-data", "sender": "hostile"},
        {"log_path": "~/.bashrc", "log_max_bytes": 1, "log_backup_count": 0},
    ],
)
def test_config_json_in_the_working_dir_is_never_read(tmp_path: Path, data: dict[str, object]) -> None:
    write_config(tmp_path, data)
    config = resolve_config(env={}, cwd=tmp_path)
    assert config.config_file is None and config.sources == {} and config.warnings == ()
    assert config.port == 8010 and config.sender is None
    assert config.data_dir == default_data_dir().resolve()
    assert config.log_path == config.data_dir / "log" / "claude_codex.log"


def test_the_user_config_file_is_read_even_when_the_working_dir_has_a_config_json(tmp_path: Path) -> None:
    from shared.config import default_config_file

    user = write_config(default_config_file().parent, {"port": 9200})
    write_config(tmp_path, {"port": 9100})
    config = resolve_config(env={}, cwd=tmp_path)
    assert config.port == 9200 and config.config_file == user


def test_a_config_json_in_the_working_dir_is_read_when_named_explicitly(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"port": 9100})
    assert resolve_config({"config": "config.json"}, env={}, cwd=tmp_path).config_file == path
    assert resolve_config(env={"CLAUDE_CODEX_CONFIG": "config.json"}, cwd=tmp_path).port == 9100


def test_user_config_file_is_the_last_resort(tmp_path: Path) -> None:
    from shared.config import default_config_file

    write_config(default_config_file().parent, {"port": 9200})
    assert resolve_config(env={}, cwd=tmp_path).port == 9200


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        (
            {},
            {"CLAUDE_CODEX_PORT": "abc"},
            "port = 'abc' from env CLAUDE_CODEX_PORT: expected a whole number",
        ),
        ({"port": 70000}, {}, "port = 70000 from config file"),
        ({"log_max_mb": -1}, {}, "log_max_mb = -1 from config file"),
        ({"log_backup_count": "ten"}, {}, "log_backup_count = 'ten' from config file"),
        ({"channels": "proj-x"}, {}, "channels = 'proj-x' from config file"),
        ({"channels": ["../etc"]}, {}, "channels"),
        ({"fsync": "maybe"}, {}, "fsync"),
        ({}, {"CLAUDE_CODEX_MAX_MESSAGE_BYTES": "0"}, "max_message_bytes = '0' from env"),
    ],
)
def test_bad_values_name_the_key_and_their_source(
    tmp_path: Path, data: dict[str, object], env: dict[str, str], message: str
) -> None:
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        resolve_config({"config": str(path)}, env=env, cwd=tmp_path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_json_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"port": 8010,', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid JSON.*line 1"):
        resolve_config({"config": str(path)}, env={}, cwd=tmp_path)


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config({"config": str(tmp_path / "nope.json")}, env={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="CLAUDE_CODEX_CONFIG"):
        resolve_config(env={"CLAUDE_CODEX_CONFIG": str(tmp_path / "nope.json")}, cwd=tmp_path)


def test_unknown_keys_are_warned_about_not_fatal(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"port": 8011, "colour": "blue"})
    config = resolve_config({"config": str(path)}, env={}, cwd=tmp_path)
    assert config.port == 8011
    (warning,) = config.warnings
    assert f"config file {path}: unknown key 'colour' ignored" in warning
    assert "did you mean" not in warning and "known keys: host, port, data_dir" in warning


@pytest.mark.parametrize(
    ("key", "meant"),
    [("prot", "port"), ("data-dir", "data_dir"), ("DataDir", "data_dir"), ("log_max_mbs", "log_max_mb")],
)
def test_a_misspelt_key_gets_did_you_mean(tmp_path: Path, key: str, meant: str) -> None:
    path = write_config(tmp_path, {key: "x"})
    (warning,) = resolve_config({"config": str(path)}, env={}, cwd=tmp_path).warnings
    assert warning == f"config file {path}: unknown key {key!r} ignored; did you mean {meant!r}?"


def test_empty_environment_variables_count_as_unset(tmp_path: Path) -> None:
    config = resolve_config(env={"CLAUDE_CODEX_PORT": "", "CLAUDE_CODEX_SENDER": ""}, cwd=tmp_path)
    assert config.port == 8010 and config.sender is None


def test_describe_hides_the_auth_token(tmp_path: Path) -> None:
    config = resolve_config(env={"CLAUDE_CODEX_AUTH_TOKEN": "s3cret"}, cwd=tmp_path)
    shown = {key: (value, source) for key, value, source in config.describe()}
    assert shown["auth_token"] == ("(set, hidden)", "env CLAUDE_CODEX_AUTH_TOKEN")
    assert "s3cret" not in repr(config.describe())


def test_path_options_may_be_path_objects_as_click_passes_them(tmp_path: Path) -> None:
    config = resolve_config(
        {"data_dir": tmp_path / "store", "log_path": Path("logs/x.log")}, env={}, cwd=tmp_path
    )
    assert config.data_dir == tmp_path / "store"
    assert config.log_path == tmp_path / "logs" / "x.log"
    assert config.sources["data_dir"] == "option --data-dir"


@pytest.mark.parametrize(
    ("url", "masked", "stripped"),
    [
        ("postgresql://relay:pa%40ss@db:5432/r?sslmode=verify-full", "postgresql://relay:***@db:5432/r?sslmode=verify-full",
         "postgresql://relay@db:5432/r?sslmode=verify-full"),
        ("postgresql://relay@db/r?password=pw&sslmode=require", "postgresql://relay@db/r?password=***&sslmode=require",
         "postgresql://relay@db/r?sslmode=require"),
        ("postgresql://db/r", "postgresql://db/r", "postgresql://db/r"),
    ],
)  # fmt: skip
def test_a_store_url_is_shown_masked_and_registered_without_its_password(
    url: str, masked: str, stripped: str
) -> None:
    from shared.config import mask_password, strip_password

    assert mask_password(url) == masked
    assert strip_password(url) == stripped
    config = resolve_config({"store": url}, env={})
    shown = dict((key, value) for key, value, _ in config.describe())["store"]
    assert shown == masked and "pa%40ss" not in repr(config)


def test_a_store_that_is_not_a_postgresql_url_names_the_key_and_the_fix() -> None:
    with pytest.raises(
        ConfigError, match=r"store = 'mysql://x' from option --store: expected a PostgreSQL URL"
    ):
        resolve_config({"store": "mysql://x"}, env={})
