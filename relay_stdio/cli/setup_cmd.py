"""``relay setup claude`` and ``relay setup codex``: print (or apply) this installation's registration."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import click
from click.decorators import FC

from relay_stdio.cli.context import CliState, pass_state, user_errors
from relay_stdio.setup import codexhooks
from relay_stdio.setup import registered as clientconfig
from relay_stdio.setup import remove as clientremove
from shared import clientsetup as cs
from shared.waiting import MAX_TIMEOUT_S


def _target_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--target", default="proj-x", show_default=True, metavar="CHANNEL", help="The shared review channel."
    )(func)


def _wait_option(agent: str) -> Callable[[FC], FC]:
    return click.option(
        "--wait",
        "wait_s",
        type=click.IntRange(0, int(MAX_TIMEOUT_S)),
        default=cs.DEFAULT_STOP_WAIT_S,
        show_default=True,
        help=f"How long the Stop hook waits for the peer's answer after {agent} posted.",
    )


@click.group()
def setup() -> None:
    """Print the exact registration for Claude Code or Codex; --apply makes the change, --remove undoes it."""


@setup.command("claude")
@_target_option
@click.option("--identity", default="claude", show_default=True, help="Claude's relay identity.")
@click.option("--peer", default="codex", show_default=True, help="The reviewer whose answers resume Claude.")
@click.option(
    "--scope",
    type=click.Choice(cs.SCOPES),
    default="local",
    show_default=True,
    help="local: this project, just you; project: .claude/settings.json and .mcp.json; user: every project.",
)
@_wait_option("Claude")
@click.option("--no-hooks", is_flag=True, help="Register the MCP server only.")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The project whose settings the local and project scopes change (default: here).",
)
@click.option(
    "--channels",
    is_flag=True,
    help="Push new messages into the session (Claude Code channels): subscribe the server to --target and "
    "print the command that starts Claude Code with the channel.",
)
@click.option(
    "--rewake",
    is_flag=True,
    help="Add the asyncRewake hook that wakes an idle session with the next message (for sessions without "
    "channels); the Stop hook then does not wait.",
)
@click.option("--apply", is_flag=True, help="Run claude mcp add and merge the hooks (with a backup).")
@click.option(
    "--remove", is_flag=True, help="Undo --apply for this scope: claude mcp remove and the relay's hooks."
)
@pass_state
def claude(
    state: CliState,
    target: str,
    identity: str,
    peer: str,
    scope: str,
    wait_s: int,
    no_hooks: bool,
    project_dir: Path,
    channels: bool,
    rewake: bool,
    apply: bool,
    remove: bool,
) -> None:
    """Claude Code: the claude mcp add command and the hooks for settings.json."""
    if apply and remove:
        raise click.UsageError("choose --apply or --remove, not both")
    project = project_dir.resolve()
    settings_path = cs.claude_settings_path(scope, Path.home(), project)
    if remove:
        with user_errors():
            _claude_mcp_remove(scope)
            click.echo(clientremove.remove_claude_hooks(settings_path))
        return
    inst = cs.Installation.find(state.config)
    add = cs.claude_add_command(inst, identity, scope, (target,) if channels else ())
    hooks = cs.claude_hooks(inst, target, identity, peer, 0 if rewake else wait_s)
    if rewake:
        for event, groups in cs.rewake_hooks(inst, target, identity, peer).items():
            hooks[event] = hooks.get(event, []) + groups
    if not apply:
        click.echo(
            f"# 1. Register the relay's MCP server with Claude Code (scope {scope}):\n{shlex.join(add)}\n"
        )
        if not no_hooks:
            click.echo(f'# 2. Merge into "hooks" in {settings_path} (or run this again with --apply):')
            click.echo(json.dumps({"hooks": hooks}, indent=2))
        click.echo(f"\n# Store shared with Codex: {inst.data_dir}  (check each side with: relay config)")
        if channels:
            _print_channel_launch()
        return
    with user_errors():
        _claude_mcp_add(add, scope)
        if not no_hooks:
            current = cs.read_json_settings(settings_path)
            merged = json.dumps(cs.merge_claude_hooks(current, hooks, settings_path), indent=2) + "\n"
            if cs.is_unchanged(settings_path, merged):
                click.echo(f"hooks in {settings_path} already up to date (nothing written, no backup)")
            else:
                backup = cs.write_with_backup(settings_path, merged)
                click.echo(f"hooks written to {settings_path}" + (f" (backup: {backup})" if backup else ""))
        _warn_double_registration(scope, project)
    if channels:
        _print_channel_launch()


def _warn_double_registration(scope: str, project: Path) -> None:
    """Hooks of every scope run, so the relay in two scopes waits and hands out messages twice."""
    where = clientconfig.claude_scopes_with_relay(os.environ, Path.home(), project)
    others = {other: what for other, what in where.items() if other != scope}
    for other, what in others.items():
        click.echo(
            f"relay setup: warning: the relay is also registered for Claude Code in the {other} scope "
            f"({' and '.join(what)}), as well as the {scope} scope. Claude Code runs the hooks of every "
            "scope, so the Stop hook would wait and hand out each message twice, and the local server "
            f"entry hides the others. Keep one: relay setup claude --remove --scope {other}",
            err=True,
        )


def _claude_mcp_remove(scope: str) -> None:
    remove = ["claude", "mcp", "remove", "--scope", scope, cs.SERVER_NAME]
    if shutil.which("claude") is None:
        click.echo(f"claude is not on PATH: unregister the server yourself with\n  {shlex.join(remove)}")
        return
    done = subprocess.run(remove, capture_output=True, text=True, check=False)
    said = (done.stderr or done.stdout).strip()
    if done.returncode == 0:
        click.echo(f"unregistered from Claude Code: {shlex.join(remove)}")
    elif "no mcp server named" in said.lower():
        click.echo(f"no relay server registered with Claude Code in the {scope} scope")
    else:
        raise click.ClickException(f"{shlex.join(remove)} failed: {said}")


def _print_channel_launch() -> None:
    launch = shlex.join(cs.claude_channel_launch())
    click.echo(
        "\n# Start Claude Code with the relay's channel (new messages arrive in the session by themselves;"
        "\n# accept the one-time warning about development channels):"
        f"\n{launch}"
        "\n# To make it stick, add an alias to your shell's startup file, e.g.:"
        f"\nalias claude-relay='{launch}'"
        "\n# Channels are a Claude Code research preview (2.1.80+); docs/claude.md says what they need."
        "\n# Claude Code turns them off when DISABLE_TELEMETRY or CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"
        "\n# is set: leave both unset in the shell that starts it."
    )


def _claude_mcp_add(add: list[str], scope: str) -> None:
    if shutil.which("claude") is None:
        click.echo(f"claude is not on PATH: register the server yourself with\n  {shlex.join(add)}")
        return
    # Replacing our own earlier registration keeps --apply repeatable; a missing one is not an error.
    subprocess.run(
        ["claude", "mcp", "remove", "--scope", scope, cs.SERVER_NAME], capture_output=True, check=False
    )
    done = subprocess.run(add, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"{shlex.join(add)} failed: {(done.stderr or done.stdout).strip()}")
    click.echo(f"registered with Claude Code: {shlex.join(add)}")


def _apply_codex(path: Path, inst: cs.Installation, identity: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    merged = cs.merge_codex_config(text, inst, identity, path)
    table = f"[mcp_servers.{cs.SERVER_NAME}]"
    if cs.is_unchanged(path, merged):
        click.echo(f"{table} in {path} already up to date (nothing written, no backup)")
        return
    backup = cs.write_with_backup(path, merged)
    click.echo(f"{table} written to {path}" + (f" (backup: {backup})" if backup else ""))


def _apply_codex_hooks(path: Path, hooks: dict[str, object]) -> None:
    current = cs.read_json_settings(path)
    merged = json.dumps(cs.merge_claude_hooks(current, hooks, path), indent=2) + "\n"
    if cs.is_unchanged(path, merged):
        click.echo(f"Codex hooks in {path} already up to date (nothing written, no backup)")
        return
    backup = cs.write_with_backup(path, merged)
    click.echo(f"Codex hooks written to {path}" + (f" (backup: {backup})" if backup else ""))


def _trust_codex_hooks(hooks_path: Path) -> None:
    codex = shutil.which("codex")
    if codex is None:
        raise click.ClickException(
            "--trust-hooks asks Codex itself to record the trust, but codex is not on PATH; install Codex "
            "(npm install -g @openai/codex) or trust the hooks in Codex's own review (/hooks)"
        )
    keys = codexhooks.trust_relay_hooks(codex, os.environ, hooks_path, Path.cwd())
    click.echo(f"trusted in Codex (hooks.state in its config.toml): {', '.join(keys)}")


def _remove_codex(config_path: Path, hooks_path: Path) -> None:
    hooks = cs.read_json_settings(hooks_path).get("hooks") if hooks_path.exists() else None
    keys = codexhooks.relay_hook_keys(hooks_path, hooks) if isinstance(hooks, dict) else []
    click.echo(clientremove.remove_claude_hooks(hooks_path))
    click.echo(clientremove.remove_codex_server(config_path, keys))


@setup.command("codex")
@_target_option
@click.option("--identity", default="codex", show_default=True, help="Codex's relay identity.")
@click.option("--peer", default="claude", show_default=True, help="Whose review packets Codex answers.")
@_wait_option("Codex")
@click.option("--no-hooks", is_flag=True, help="Register the MCP server only, without Codex hooks.")
@click.option(
    "--trust-hooks",
    is_flag=True,
    help="Also record your trust in the relay's hooks, as Codex's own review would (needs codex on PATH).",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Merge [mcp_servers.relay] into Codex's config.toml and the hooks into hooks.json (with backups).",
)
@click.option(
    "--remove",
    is_flag=True,
    help="Undo --apply: the server, the relay's hooks and their trust (with backups).",
)
@pass_state
def codex(
    state: CliState,
    target: str,
    identity: str,
    peer: str,
    wait_s: int,
    no_hooks: bool,
    trust_hooks: bool,
    apply: bool,
    remove: bool,
) -> None:
    """Codex: the [mcp_servers.relay] block for config.toml, its hooks and the auto-review loop command."""
    if apply and remove:
        raise click.UsageError("choose --apply or --remove, not both")
    if trust_hooks and (no_hooks or not apply):
        raise click.UsageError(
            "--trust-hooks trusts the hooks --apply writes: use it with --apply, without --no-hooks"
        )
    path = cs.codex_config_path(os.environ, Path.home())
    hooks_path = codexhooks.codex_hooks_path(os.environ, Path.home())
    if remove:
        with user_errors():
            _remove_codex(path, hooks_path)
        return
    inst = cs.Installation.find(state.config)
    hooks = codexhooks.codex_hooks(inst, target, identity, peer, wait_s)
    trust = inst.relay_argv("setup", "codex", "--apply", "--trust-hooks", "--target", target, "--peer", peer)
    if apply:
        with user_errors():
            _apply_codex(path, inst, identity)
            if not no_hooks:
                _apply_codex_hooks(hooks_path, hooks)
                if trust_hooks:
                    _trust_codex_hooks(hooks_path)
                else:
                    click.echo(codexhooks.review_step(hooks_path, trust))
    else:
        click.echo(f"# Add to {path} (or run this again with --apply):")
        click.echo(cs.codex_toml_block(inst, identity))
        argv = inst.server_argv(identity)
        click.echo("# Or register it with the Codex CLI (then add the timeouts and approval mode by hand):")
        click.echo(shlex.join(["codex", "mcp", "add", cs.SERVER_NAME, "--", *argv]) + "\n")
        if not no_hooks:
            click.echo(f"# Codex hooks: merge into {hooks_path} (or run this again with --apply):")
            click.echo(json.dumps({"hooks": hooks}, indent=2))
            click.echo(codexhooks.review_step(hooks_path, trust) + "\n")
    click.echo(f"# The automatic review loop (Codex answers every packet {peer} posts to {target}):")
    click.echo(inst.relay_argv("codex-auto-review", "--target", target, "--from", peer))
    click.echo(f"\n# Store shared with Claude: {inst.data_dir}  (check each side with: relay config)")
