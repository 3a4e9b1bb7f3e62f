"""Every option of the automation commands and every wait_for_messages argument is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from relay_stdio.cli import main

DOC = (Path(__file__).resolve().parents[1] / "docs" / "automation.md").read_text()


def commands() -> list[tuple[str, click.Command]]:
    found = []
    for name in ("watch", "hook", "setup", "codex-auto-review"):
        command = main.commands[name]
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", cmd) for sub, cmd in command.commands.items()]
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize(("name", "command"), commands(), ids=[name for name, _ in commands()])
def test_every_option_is_in_docs_automation(name: str, command: click.Command) -> None:
    assert f"relay {name}" in DOC or f"`{name.split()[-1]}" in DOC, name
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in DOC, f"relay {name} {longest} is not documented in docs/automation.md"


@pytest.mark.parametrize("argument", ["target", "since_id", "timeout_s", "from_sender", "limit"])
def test_wait_for_messages_arguments_are_documented(argument: str) -> None:
    assert f"`{argument}`" in DOC or f"{argument}?" in DOC or f"{argument}=" in DOC
