"""The relay's Codex hooks in the real Codex CLI, offline: ``relay setup codex --apply --trust-hooks``
in a temporary CODEX_HOME, then ``codex exec`` against a stand-in Responses API server (standin_models.py).

A message posted while ``codex exec`` runs is handed to Codex by the Stop hook: the turn continues and
the next model request holds the message, framed as untrusted input. A peer that keeps posting gets a
bounded number of continuations (Codex itself has no cap on Stop blocks).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from relay_stdio.setup.codexhooks import codex_hooks_path, hook_trust
from shared.trust import untrusted_framing
from tests.e2e.conftest import relay_cli
from tests.e2e.standin_models import ResponsesStandin, codex_provider_toml, input_text, message

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE_BIN = Path(__file__).parent / "node" / "node_modules" / ".bin"
HANG_GUARD_S = 120


def codex_bin() -> Path:
    path = NODE_BIN / "codex"
    if not path.exists():
        pytest.skip("codex is not installed in tests/e2e/node (scripts/test.sh installs it)")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    codex_bin()
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / "work").mkdir()
    path = os.pathsep.join([str(NODE_BIN), str(Path(relay_cli()[0]).parent), "/usr/bin", "/bin"])
    return {
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "CODEX_HOME": str(home / ".codex"),
        "CLAUDE_CODEX_DATA_DIR": str(tmp_path / "data"),
    }


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        env=env,
        cwd=Path(env["HOME"]) / "work",
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        stdin=subprocess.DEVNULL,
    )


def post(env: dict[str, str], text: str, sender: str = "claude") -> int:
    done = run(env, *relay_cli(), "post", "proj-x", text, "--sender", sender, "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["id"])


def set_up(env: dict[str, str], base_url: str) -> None:
    config = Path(env["CODEX_HOME"]) / "config.toml"
    config.write_text(codex_provider_toml(base_url))
    done = run(env, *relay_cli(), "setup", "codex", "--apply", "--trust-hooks", "--target", "proj-x")
    assert done.returncode == 0, done.stderr
    assert "trusted in Codex" in done.stdout


def codex_exec(env: dict[str, str], prompt: str) -> subprocess.CompletedProcess[str]:
    return run(env, str(codex_bin()), "exec", "--json", "--skip-git-repo-check", prompt)


def test_a_message_posted_during_codex_exec_continues_the_turn_with_it(env: dict[str, str]) -> None:
    posted: list[int] = []

    def script(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        if number == 1:
            posted.append(post(env, "Review packet: please check parse_empty()"))
        return [message(f"turn part {number} done")]

    with ResponsesStandin(script) as model:
        set_up(env, model.base_url)
        trust = hook_trust(str(codex_bin()), env, codex_hooks_path(env, Path(env["HOME"])), Path(env["HOME"]))
        assert trust == {"stop": "trusted", "sessionStart": "trusted", "userPromptSubmit": "trusted"}
        done = codex_exec(env, "Start reviewing when a packet arrives.")
    assert done.returncode == 0, done.stderr
    assert model.errors == []
    assert len(model.requests) == 2  # the turn, then one continuation; then nothing new, so it stops
    assert "please check parse_empty()" not in input_text(model.requests[0])
    continued = input_text(model.requests[1])
    assert f"#{posted[0]} claude" in continued and "please check parse_empty()" in continued
    assert json.dumps(untrusted_framing("proj-x", ["claude via cli"]))[1:-1] in continued


def test_a_peer_that_never_stops_posting_gets_a_bounded_number_of_continuations(env: dict[str, str]) -> None:
    def script(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        post(env, f"note {number} from the peer")
        return [message(f"answer {number}")]

    with ResponsesStandin(script) as model:
        set_up(env, model.base_url)
        done = codex_exec(env, "Keep answering the peer.")
    assert done.returncode == 0, done.stderr
    # The first turn, then at most 3 continuations (relay hook codex-stop --max-continuations 3).
    assert len(model.requests) == 4
    for number in (2, 3, 4):
        assert f"note {number - 1} from the peer" in input_text(model.requests[number - 1])
    assert "note 4 from the peer" not in "".join(input_text(body) for body in model.requests)


def test_untrusted_hooks_do_not_run_and_setup_says_how_to_trust_them(env: dict[str, str]) -> None:
    def script(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        if number == 1:
            post(env, "a packet nobody hands over")
        return [message("done")]

    with ResponsesStandin(script) as model:
        (Path(env["CODEX_HOME"]) / "config.toml").write_text(codex_provider_toml(model.base_url))
        done = run(env, *relay_cli(), "setup", "codex", "--apply", "--target", "proj-x")
        assert done.returncode == 0, done.stderr
        assert "Codex runs only hooks you have trusted" in done.stdout and "--trust-hooks" in done.stdout
        ran = codex_exec(env, "go")
    assert ran.returncode == 0, ran.stderr
    assert len(model.requests) == 1  # Codex skipped the untrusted Stop hook, as the docs warn


def test_remove_takes_out_the_hooks_and_their_trust_and_restores_config_toml(env: dict[str, str]) -> None:
    config = Path(env["CODEX_HOME"]) / "config.toml"
    before = codex_provider_toml("http://127.0.0.1:9/v1") + "\n# mine\n"
    config.write_text(before)
    done = run(env, *relay_cli(), "setup", "codex", "--apply", "--trust-hooks")
    assert done.returncode == 0, done.stderr
    assert "hooks.state" in config.read_text()
    done = run(env, *relay_cli(), "setup", "codex", "--remove")
    assert done.returncode == 0, done.stderr
    assert config.read_text() == before
    assert not codex_hooks_path(env, Path(env["HOME"])).exists()
