"""Agents' login files on real Docker: imported from the host's own agent (never through a
symlink the agent planted), and never written back: whatever the agent leaves in its copy (a
refreshed token, its own key under your account id) stays in the sandbox, the host's file byte for
byte as it was; nothing secret in the image; and `login`, with the real codex CLI, which also
refreshes a ChatGPT sign-in's token itself, against the tests' stand-in for OpenAI's token
endpoint.

The projects install codex (the real binary, from the codex test image, so nothing is fetched
from npm) and are run by an unprivileged host user whose home holds ~/.codex/auth.json.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    MOCK_ACCOUNT,
    MOCK_AUTH_NAME,
    MOCK_CHATGPT_NAME,
    PROJECT_UID,
    Sandbox,
    Topology,
    build,
    chown_tree,
    docker,
    generate,
    login_file,
    requests_seen,
)
from tests.e2e.waiting import BOUND

USER = (PROJECT_UID, PROJECT_UID)


def session_env(home: Path) -> dict[str, str]:
    """The user's home, and a state folder of this test's own: the marks of what was imported
    are then this test's, written by whoever runs the script here (root or the user)."""
    return {
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "CXGEN_ACCEPT_CHANGES": "1",
    }


def run(
    sandbox: Sandbox,
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    user: tuple[int, int] | None = USER,
):
    return sandbox.run(*args, user=user, env={**session_env(home), **(env or {})}, timeout=180)


def in_session(sandbox: Sandbox, home: Path, script: str, *options: str):
    return run(sandbox, home, "exec", *options, "--", "bash", "-c", script)


def test_a_login_refreshed_in_a_session_stays_in_the_sandbox(codex_project) -> None:
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    home_login = sandbox.project / ".codex/.environment/auth.json"
    original = host_login.read_bytes()
    before = host_login.stat()
    # First session: imported (and said so).
    result = in_session(sandbox, home, 'cat "$CODEX_HOME/auth.json"')
    assert result.returncode == 0, result.stderr
    assert "r1" in result.stdout
    assert f"copied {host_login} to .codex/.environment/auth.json" in result.stderr
    assert home_login.stat().st_mode & 0o777 == 0o600
    assert (home_login.stat().st_uid, home_login.stat().st_gid) == USER
    # Second session refreshes the token (same account): it stays in the agent home, and the
    # next session uses it; the host's file is untouched.
    refreshed = login_file("acct-1", "r2")
    result = in_session(sandbox, home, f"printf '%s' '{refreshed}' >\"$CODEX_HOME/auth.json\"")
    assert result.returncode == 0, result.stderr
    assert host_login.read_bytes() == original
    assert host_login.stat().st_mtime_ns == before.st_mtime_ns
    result = in_session(sandbox, home, 'cat "$CODEX_HOME/auth.json"')
    assert "r2" in result.stdout and "copied" not in result.stderr, result.stderr
    # The host signs in again (its file changed): the next session uses the host's.
    host_login.write_text(login_file("acct-1", "r3"))
    result = in_session(sandbox, home, 'cat "$CODEX_HOME/auth.json"')
    assert "r3" in result.stdout, result.stderr


def test_in_root_mode_a_refreshed_login_stays_inside_and_roots(codex_project) -> None:
    """Root on a root-owned project: the agent is uid 0 (without capabilities); the import is
    the same (root's, mode 0600), and nothing goes back."""
    sandbox, home = codex_project
    chown_tree(sandbox.project.parent, 0)
    host_login = home / ".codex/auth.json"
    home_login = sandbox.project / ".codex/.environment/auth.json"
    env = session_env(home)
    result = sandbox.run("exec", "--", "bash", "-c", 'id -u; cat "$CODEX_HOME/auth.json"', env=env)
    assert result.returncode == 0 and result.stdout.startswith("0\n"), result.stderr
    assert "r1" in result.stdout and f"copied {host_login}" in result.stderr
    assert (home_login.stat().st_uid, home_login.stat().st_mode & 0o777) == (0, 0o600)
    refreshed = login_file("acct-1", "r2")
    script = f"printf '%s' '{refreshed}' >\"$CODEX_HOME/auth.json\""
    result = sandbox.run("exec", "--", "bash", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert host_login.read_text() == login_file("acct-1", "r1")
    assert home_login.read_text() == refreshed


# What the agent can leave in its copy: its own key and tokens under the account id it read from
# yours (a check on that id would pass), another account, decoys.
FORGED = json.dumps(
    {
        "OPENAI_API_KEY": "sk-attacker",
        "tokens": {
            "account_id": "acct-1",
            "id_token": "attacker.id.token",
            "access_token": "attacker-access",
            "refresh_token": "attacker-refresh",
        },
    }
)


@pytest.mark.parametrize("mode", ["user", "root"])
def test_a_forged_login_under_your_account_id_never_reaches_the_host(
    codex_project, mode: str
) -> None:
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    original = host_login.read_bytes()
    if mode == "root":
        chown_tree(sandbox.project.parent, 0)
        user = None
    else:
        user = USER
    env = session_env(home)
    script = (
        'grep -q acct-1 "$CODEX_HOME/auth.json" && '
        f"printf '%s' '{FORGED}' >\"$CODEX_HOME/auth.json\" && echo forged"
    )
    result = sandbox.run("exec", "--", "bash", "-c", script, env=env, user=user, timeout=180)
    assert result.stdout.strip() == "forged", result.stderr
    assert host_login.read_bytes() == original
    assert (sandbox.project / ".codex/.environment/auth.json").read_text() == FORGED
    # Nor later: the next session ends the same way.
    result = sandbox.run("exec", "--", "true", env=env, user=user, timeout=180)
    assert result.returncode == 0, result.stderr
    assert host_login.read_bytes() == original


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param(login_file("acct-attacker", "evil"), id="other-account"),
        # The real account elsewhere in the file as a decoy, or the key spelled with an escape
        # that only a JSON parser reads as account_id.
        pytest.param(
            '{"tokens":{"account_id":"acct-attacker","refresh_token":"evil"},'
            '"x":{"account_id":"acct-1"}}',
            id="decoy",
        ),
        pytest.param(
            '{"tokens":{"\\u0061ccount_id":"acct-attacker","refresh_token":"evil"},'
            '"x":{"account_id":"acct-1"}}',
            id="escaped-key",
        ),
        pytest.param('{"OPENAI_API_KEY":"sk-attacker"}', id="no-account"),
    ],
)
def test_a_login_for_another_account_is_not_written_back(codex_project, planted: str) -> None:
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    result = in_session(sandbox, home, f"printf '%s' '{planted}' >\"$CODEX_HOME/auth.json\"")
    assert result.returncode == 0, result.stderr
    assert host_login.read_text() == login_file("acct-1", "r1")


def test_a_fifo_in_place_of_the_login_does_not_hang_the_host(codex_project) -> None:
    sandbox, home = codex_project
    script = 'rm -f "$CODEX_HOME/auth.json" && mkfifo "$CODEX_HOME/auth.json"'
    result = in_session(sandbox, home, script)
    assert result.returncode == 0, result.stderr
    assert (home / ".codex/auth.json").read_text() == login_file("acct-1", "r1")


def test_a_symlink_the_agent_planted_is_never_followed(codex_project, open_tmp: Path) -> None:
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    # A file of this machine the agent must not get copied into the host's login (and so,
    # next session, into the sandbox).
    secret = open_tmp / f"secret-{os.getpid()}"
    secret.write_text("host secret")
    secret.chmod(0o600)
    chown_tree(secret)
    result = in_session(sandbox, home, f'ln -sfn {secret} "$CODEX_HOME/auth.json"')
    assert result.returncode == 0, result.stderr
    assert "host secret" not in host_login.read_text()
    assert "acct-1" in host_login.read_text()
    # The next start refuses the symlink rather than copying through it.
    result = in_session(sandbox, home, "true")
    assert result.returncode != 0
    assert "symlink" in result.stderr


def test_concurrent_sessions_leave_the_host_login_alone(codex_project) -> None:
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    env = session_env(home)
    # Each session rewrites the login 30 times, whole (as codex does: a new file, renamed).
    write = (
        'printf \'{"tokens":{"account_id":"acct-1","refresh_token":"%s"}}\' "$1$i"'
        ' >"$CODEX_HOME/auth.json.$1" && mv -f "$CODEX_HOME/auth.json.$1" "$CODEX_HOME/auth.json"'
    )
    scripts = [f"for i in $(seq 1 30); do {write}; done" for _ in "ab"]
    sessions = []
    for script in scripts:
        who = "ab"[len(sessions)]
        sessions.append(
            sandbox.start("exec", "--", "bash", "-c", script, "write", who, env=env, user=USER)
        )
    for session in sessions:
        _, err = session.communicate(timeout=180)
        assert session.returncode == 0, err
    # The agent home has the last login either session wrote, whole; the host's is as it was.
    final = json.loads((sandbox.project / ".codex/.environment/auth.json").read_text())
    assert final["tokens"]["refresh_token"] in ("a30", "b30")
    assert host_login.read_text() == login_file("acct-1", "r1")
    assert sorted(p.name for p in host_login.parent.iterdir()) == ["auth.json"]


@pytest.mark.parametrize("mode", ["copy", "sync", "none"])
def test_copy_and_sync_import_only_and_none_leaves_both_alone(codex_project, mode: str) -> None:
    """sync, once the default, is accepted and works as copy (said once per machine)."""
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    original = host_login.read_text()
    new = login_file("acct-1", "new")
    script = (
        f"cat \"$CODEX_HOME/auth.json\" 2>/dev/null; printf '%s' '{new}' >\"$CODEX_HOME/auth.json\""
    )
    result = in_session(sandbox, home, script, "--credentials", mode)
    assert result.returncode == 0, result.stderr
    assert ("r1" in result.stdout) == (mode != "none")
    assert host_login.read_text() == original


def test_no_login_reaches_the_image(codex_project) -> None:
    sandbox, home = codex_project
    assert in_session(sandbox, home, "true").returncode == 0
    history = docker("history", "--no-trunc", sandbox.image).stdout
    assert "acct-1" not in history and "auth.json" not in history
    found = docker(
        "run", "--rm", "--entrypoint", "find", sandbox.image, "/", "-xdev", "-name", "auth.json"
    ).stdout
    assert found == ""


def test_codex_login_with_an_api_key_stores_the_placeholder(codex_project) -> None:
    """The key stays with the relay: codex stores the placeholder it sends (for its TUI, which
    reads a key only from a stored login), which the relay replaces."""
    sandbox, home = codex_project
    (home / ".codex/auth.json").unlink()
    key = "sk-cxgen-login-test"
    result = run(sandbox, home, "login", "--with-api-key", env={"OPENAI_API_KEY": key})
    assert result.returncode == 0, result.stderr
    home_login = sandbox.project / ".codex/.environment/auth.json"
    assert json.loads(home_login.read_text())["OPENAI_API_KEY"] == "cxgen-relayed-key"
    assert key not in home_login.read_text()
    assert home_login.stat().st_mode & 0o777 == 0o600
    assert home_login.stat().st_uid == PROJECT_UID
    status = in_session(sandbox, home, "codex login status 2>&1")
    assert "API key" in status.stdout, status.stdout + status.stderr
    # Not in git's view, and the key never on a command line (ps shows docker's arguments).
    assert key not in result.stderr


def test_codex_login_callback_is_bridged_from_the_docker_host(codex_project) -> None:
    """Docker publishes 127.0.0.1:1455 to the container's address, where the bridge forwards
    to codex's callback server on the container's loopback. The tests' networks are internal,
    where Docker publishes nothing, so this connects to the container's address from the
    Docker host, as Docker's port publishing does."""
    sandbox, home = codex_project
    session = sandbox.start("login", env={**session_env(home), "BROWSER": "true"})
    try:
        args = list(session.args)
        name = args[args.index("--name") + 1]
        address = ""
        for _ in range(int(BOUND * 2)):
            address = docker(
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                name,
                check=False,
            ).stdout.strip()
            if address:
                break
            time.sleep(0.5)
        assert address, "no login container"
        reply = b""
        for _ in range(int(BOUND / 2)):
            try:
                with socket.create_connection((address, 1455), timeout=2) as conn:
                    conn.sendall(
                        b"GET /auth/callback?code=x&state=wrong HTTP/1.0\r\nHost: localhost\r\n\r\n"
                    )
                    reply = conn.recv(4096)
                if reply:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert reply.startswith(b"HTTP/1."), (reply, docker("logs", name, check=False))
    finally:
        # The container first: the docker CLI holds the output pipes open.
        args = list(session.args)
        docker("rm", "-f", "-v", args[args.index("--name") + 1], check=False)
        session.kill()
        session.communicate(timeout=30)


def test_an_api_key_the_real_codex_stored_stays_in_the_sandbox(codex_project) -> None:
    """codex itself rewrites its auth.json in the session (a new API key, stored by `codex login
    --with-api-key` started by hand inside): it stays there."""
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    host_login.write_text(json.dumps({"OPENAI_API_KEY": "sk-old"}))
    result = in_session(sandbox, home, "printf 'sk-new\\n' | codex login --with-api-key")
    assert result.returncode == 0, result.stderr
    assert "sk-new" in (sandbox.project / ".codex/.environment/auth.json").read_text()
    assert json.loads(host_login.read_text())["OPENAI_API_KEY"] == "sk-old", result.stderr


def test_a_date_the_agent_set_does_not_stop_the_hosts_new_login(codex_project) -> None:
    """The agent dates its copy far in the future; you sign in again on the host: the next
    session still gets the host's login, and what the agent makes of it stays inside."""
    sandbox, home = codex_project
    host_login = home / ".codex/auth.json"
    result = in_session(sandbox, home, 'touch -d 2099-01-01 "$CODEX_HOME/auth.json"')
    assert result.returncode == 0, result.stderr
    host_login.write_text(login_file("acct-1", "r-new-host-login"))
    script = (
        'cat "$CODEX_HOME/auth.json"; sed -i s/r-new-host-login/r-agent/ "$CODEX_HOME/auth.json"'
    )
    result = in_session(sandbox, home, script)
    assert "r-new-host-login" in result.stdout, result.stderr
    assert host_login.read_text() == login_file("acct-1", "r-new-host-login")


# --- A ChatGPT sign-in, relayed: the real codex refreshes it through the relay -----------------
# codex 0.147.0 refreshes a ChatGPT sign-in as a session starts when its access token (a JWT)
# has expired or, for one without an expiry, 8 days after last_refresh (also after a 401). It
# POSTs {client_id, grant_type: refresh_token, refresh_token} to CODEX_REFRESH_TOKEN_URL_OVERRIDE
# (the relay's, in the sandbox) and rewrites auth.json with the answer. In a cxgen sandbox codex
# holds placeholders (the tokens' claims, unsigned); the relay holds the tokens, makes the
# refresh at the token endpoint with the real refresh token, and the run script then updates the
# host's login from the relay's file.
def unsigned_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def chatgpt_login(account: str, refresh_token: str, due: str) -> str:
    """A ChatGPT sign-in's auth.json as codex writes it, due for a refresh: its access token
    expired an hour ago (refreshed 2 hours ago), or, with no expiry in it, refreshed 9 days
    ago."""
    now = time.time()
    refreshed = now - (2 * 3600 if due == "expired" else 9 * 86400)
    access = {"exp": int(now - 3600)} if due == "expired" else {"sub": "no-expiry"}
    claims = {"chatgpt_account_id": account, "chatgpt_plan_type": "plus"}
    id_token = {"email": "user@mock.test", "exp": int(now), "https://api.openai.com/auth": claims}
    login = {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": unsigned_jwt(id_token),
            "access_token": unsigned_jwt(access),
            "refresh_token": refresh_token,
            "account_id": account,
        },
        "last_refresh": datetime.fromtimestamp(refreshed, timezone.utc)
        .isoformat()
        .replace("+00:00", "Z"),
    }
    return json.dumps(login, indent=2)


@pytest.fixture(params=["user", "root"])
def chatgpt_project(
    request: pytest.FixtureRequest,
    codex_image: str,
    topology: Topology,
    mock_api: str,
    open_tmp: Path,
) -> tuple[Sandbox, Path]:
    """A codex project whose ChatGPT routes go to the stand-in (its chatgpt.mock.test and
    auth.mock.test names, over TLS), and a home for ~/.codex/auth.json; the unprivileged user's,
    or root's (root mode)."""
    owner = 0 if request.param == "root" else PROJECT_UID
    root = open_tmp / f"chatgpt-{uuid.uuid4().hex[:8]}"
    project = root / "project"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    generate(
        project,
        codex_image,
        owner=owner,
        agents=["codex"],
        apt_packages=[],
        allowed_domains=[],
        relay=[f"CODEX_CHATGPT={MOCK_CHATGPT_NAME}", f"CODEX_CHATGPT_REFRESH={MOCK_AUTH_NAME}"],
    )
    # Request bodies uncompressed (with a ChatGPT sign-in codex sends them zstd-compressed,
    # which the standard-library stand-in cannot read).
    (project / ".codex/.environment/config.toml").write_text(
        'model = "mock-model"\n[features]\nenable_request_compression = false\n'
    )
    home = root / "home"
    (home / ".codex").mkdir(parents=True)
    chown_tree(root, owner)
    return Sandbox(project, build(project), topology.network, root_mode=owner == 0), home


def files_holding(folder: Path, *needles: str) -> list[str]:
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and any(n.encode() in path.read_bytes() for n in needles)
    ]


@pytest.mark.parametrize("due", ["expired", "last-refresh-9-days-ago"])
def test_a_chatgpt_sign_in_stays_with_the_relay_which_refreshes_it_for_the_host(
    chatgpt_project: tuple[Sandbox, Path], mock_api: str, due: str
) -> None:
    sandbox, home = chatgpt_project
    host_login = home / ".codex/auth.json"
    home_login = sandbox.project / ".codex/.environment/auth.json"
    old_token = f"rt-{uuid.uuid4().hex[:12]}"
    host_login.write_text(chatgpt_login(MOCK_ACCOUNT, old_token, due))
    old_access = json.loads(host_login.read_text())["tokens"]["access_token"]
    last_refresh = json.loads(host_login.read_text())["last_refresh"]
    host_login.chmod(0o600)
    owner = 0 if sandbox.root_mode else PROJECT_UID
    os.chown(host_login, owner, owner)
    env = {"OPENAI_API_KEY": "", "CODEX_API_KEY": ""}
    session = ("--", "exec", "write your uid to proof.txt")
    user = None if sandbox.root_mode else (PROJECT_UID, PROJECT_UID)

    # First session: codex finds its sign-in due and asks the relay, which refreshes it at the
    # token endpoint with the real refresh token (codex only ever had a placeholder).
    result = run(sandbox, home, *session, env=env, user=user)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    refreshes = [r for r in requests_seen(mock_api) if r["path"] == "/oauth/token"]
    mine = [r for r in refreshes if r["body"].get("refresh_token", "").startswith(old_token)]
    # One refresh (codex asks from more than one task at once, and a loaded machine may let a
    # second one come after the first is over): never a refresh token spent twice, each the
    # newest, over TLS, for codex's client; never the placeholder.
    spent = [r["body"]["refresh_token"] for r in mine]
    assert spent == [old_token + "+" * n for n in range(len(spent))] and spent, spent
    assert {(r["host"], r["tls"], r["body"]["client_id"]) for r in mine} == {
        (MOCK_AUTH_NAME, True, "app_EMoamEEZ73f0CkXaXp7hrann")
    }
    assert all(r["body"].get("refresh_token") != "cxgen-relayed-key" for r in refreshes)
    new_token = spent[-1] + "+"
    # The host's login now holds the newest tokens (from the token endpoint's answer) ...
    refreshed = json.loads(host_login.read_text())
    assert refreshed["tokens"]["refresh_token"] == new_token
    assert refreshed["tokens"]["account_id"] == MOCK_ACCOUNT
    assert refreshed["last_refresh"] > last_refresh
    new_access = refreshed["tokens"]["access_token"]
    assert new_access != old_access
    assert "refreshed by the relay" in result.stderr
    # ... which the model requests carried, added by the relay, to the chatgpt route's host.
    first = [r for r in requests_seen(mock_api) if r["authorization"] == f"Bearer {new_access}"]
    responses = [r for r in first if r["path"] == "/backend-api/codex/responses"]
    assert len(responses) == 2 and {(r["host"], r["account"]) for r in responses} == {
        (MOCK_CHATGPT_NAME, MOCK_ACCOUNT)
    }
    # No token of the sign-in, old or new, was ever in the sandbox's reach.
    secrets_ = (old_token, new_token, old_access, new_access)
    assert files_holding(sandbox.project, *secrets_) == []
    inside = json.loads(home_login.read_text())
    assert inside["tokens"]["refresh_token"] == "cxgen-relayed-key"
    assert inside["tokens"]["access_token"].endswith(".cxgen")
    before = len(requests_seen(mock_api))

    # Second session: the host's login is fresh, so no refresh; the relay adds the new token.
    result = run(sandbox, home, *session, env=env, user=user)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    second = requests_seen(mock_api)[before:]
    assert [r for r in second if r["path"] == "/oauth/token"] == []
    responses = [r for r in second if r["path"] == "/backend-api/codex/responses"]
    assert len(responses) == 2
    assert {r["authorization"] for r in responses} == {f"Bearer {new_access}"}
    assert json.loads(host_login.read_text())["tokens"]["refresh_token"] == new_token


def write_login(home: Path, text: str, owner: int = PROJECT_UID) -> Path:
    login = home / ".codex/auth.json"
    login.write_text(text)
    login.chmod(0o600)
    os.chown(login, owner, owner)
    return login


def test_a_sign_in_without_an_account_is_relayed_and_one_unreadable_is_refused(
    chatgpt_project: tuple[Sandbox, Path],
) -> None:
    """codex keeps account_id optional: such a sign-in is relayed too; one whose tokens cannot
    be read whole is refused, never copied in."""
    sandbox, home = chatgpt_project
    owner = 0 if sandbox.root_mode else PROJECT_UID
    user = None if sandbox.root_mode else USER
    login = json.loads(chatgpt_login(MOCK_ACCOUNT, "rt-no-account", "expired"))
    login["tokens"]["account_id"] = None
    write_login(home, json.dumps(login), owner)
    result = run(sandbox, home, "exec", "--", "cat", "/dev/null", user=user)
    assert result.returncode == 0, result.stderr
    inside = (sandbox.project / ".codex/.environment/auth.json").read_text()
    assert json.loads(inside)["tokens"]["account_id"] is None
    assert "rt-no-account" not in inside and login["tokens"]["access_token"] not in inside

    login["tokens"]["id_token"] = "not a token"
    write_login(home, json.dumps(login), owner)
    (sandbox.project / ".codex/.environment/auth.json").unlink()
    result = run(sandbox, home, "exec", "--", "true", user=user)
    assert result.returncode == 2
    assert "cannot read whole" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (sandbox.project / ".codex/.environment/auth.json").exists()


def leave_refresh_lock(container: str, scratch: Path) -> None:
    """A fresh refresh lock in the (stopped) container, as a relay stopped mid-answer leaves."""
    lock = scratch / "refresh.lock"
    lock.write_text(str(int(time.time() * 1000)))
    target = f"{container}:/var/lib/cxgen-relay/run/refresh.lock"
    subprocess.run(["docker", "cp", str(lock), target], check=True, capture_output=True)


def test_a_kept_session_refreshed_again_after_attach_updates_the_host_login(
    chatgpt_project: tuple[Sandbox, Path], mock_api: str
) -> None:
    """Each run of a kept session may refresh the sign-in (here its command asks the relay, as
    codex does); each time, the host's login gets the new tokens."""
    sandbox, home = chatgpt_project
    owner = 0 if sandbox.root_mode else PROJECT_UID
    user = None if sandbox.root_mode else USER
    host_login = write_login(home, chatgpt_login(MOCK_ACCOUNT, "rt-kept", "expired"), owner)
    # (The relay starts beside the command: the request waits until it answers.)
    ask = (
        "until (exec 3<>/dev/tcp/127.0.0.1/8700) 2>/dev/null; do sleep 0.1; done; "
        "python3 -c \"import http.client; c = http.client.HTTPConnection('127.0.0.1', 8700); "
        f"c.request('POST', '/{MOCK_AUTH_NAME}/oauth/token', body='{{}}'); "
        'print(c.getresponse().status)"'
    )
    name = f"cxgen-test-kept-{uuid.uuid4().hex[:6]}"
    env = {"OPENAI_API_KEY": "", "CODEX_API_KEY": ""}
    try:
        result = sandbox.run(
            "exec", "--keep", "--", "bash", "-c", ask, name=name, user=user,
            env={**session_env(home), **env}, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0 and result.stdout.strip() == "200", result.stderr
        assert json.loads(host_login.read_text())["tokens"]["refresh_token"] == "rt-kept+"
        # The command may end while the relay answers, before it drops its refresh lock (the
        # container stops at once; CI saw it): a lock left so must not hold the next refresh.
        leave_refresh_lock(name, scratch=home)
        result = sandbox.run(
            "attach", name, user=user, env={**session_env(home), **env}, timeout=180, name=""
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(host_login.read_text())["tokens"]["refresh_token"] == "rt-kept++"
    finally:
        sandbox.run("destroy", name, user=user, env=session_env(home), name="")
    # destroy removed the kept session's relay files (its emptied keys, its sign-in file).
    relay_files = home / ".local/state/cxgen/relay"
    assert not relay_files.exists() or list(relay_files.iterdir()) == []
