"""Validator tables: good values pass normalized, hostile ones fail naming key and value."""

from __future__ import annotations

import getpass
import pwd
from pathlib import Path

import pytest
import yaml

from cxgen.answers import parse_data_items, validate_answers
from cxgen.errors import InvalidAnswer
from cxgen.jinja_ext import invalid, normalized
from cxgen.validators import (
    check_apt_packages,
    check_domains,
    check_git,
    check_image,
    check_init_hook,
    check_mount_paths,
    check_private_destinations,
    checking_saved_answers,
    list_as_text,
)

HOSTILE_DOMAINS = [
    "evil.com; rm -rf /",
    "$(id).example.com",
    "`id`.example.com",
    "example.com\nevil.com",
    "http://x.example.com",
    "example.com:443",
    "example.com/path",
    "../etc/passwd",
    "ex\u0430mple.com",  # Cyrillic a: a unicode look-alike
    "EXAMPLE.COM",
    "*",
    "*.com.",
    "a..b.com",
    "-bad.example.com",
    "localhost",
    "exa mple.com",
    "*.*.example.com",
    "example.com#x",
    "a" * 64 + ".com",
]


@pytest.mark.parametrize("value", HOSTILE_DOMAINS)
def test_hostile_domains_are_refused(value: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        check_domains([value])
    assert caught.value.key == "allowed_domains"
    assert "\n" not in caught.value.message.replace(repr(value), "")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("pypi.org", ["pypi.org"]),
        ("pypi.org, files.pythonhosted.org", ["pypi.org", "files.pythonhosted.org"]),
        (["*.github.com", "github.com", "github.com"], ["*.github.com", "github.com"]),
        ("xn--bcher-kva.example", ["xn--bcher-kva.example"]),
        ([], []),
        ("", []),
    ],
)
def test_good_domains_are_normalized(given: object, expected: list[str]) -> None:
    assert check_domains(given) == expected


@pytest.mark.parametrize(
    "value",
    ["git; curl evil", "$(id)", "Git", "a", "-rf", "jq=1.6 && id", "pkg\nother", "../x", "gït"],
)
def test_hostile_apt_packages_are_refused(value: str) -> None:
    with pytest.raises(InvalidAnswer, match="apt_packages"):
        check_apt_packages([value])


def test_good_apt_packages() -> None:
    assert check_apt_packages("git, jq=1.6-2 python3.11 libc++1") == [
        "git",
        "jq=1.6-2",
        "python3.11",
        "libc++1",
    ]


def test_mount_paths(tmp_path: Path) -> None:
    spaced = tmp_path / "with space"
    spaced.mkdir()
    assert check_mount_paths([str(spaced)]) == [str(spaced)]
    for bad in [
        "/",
        "relative/path",
        str(tmp_path / "missing"),
        f"{spaced}\n/etc",
        f"{tmp_path}/../etc",
        "//",
    ]:
        with pytest.raises(InvalidAnswer, match="readonly_mounts"):
            check_mount_paths([bad])


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("http://example.com", "example.com"),
        ("https://example.com/path", "example.com"),
        ("http://Docs.Example.com:80", "docs.example.com"),
        ("https://*.example.com", "*.example.com"),
        ("example.com:443", "example.com"),
        ("example.com/path", "example.com"),
        ("EXAMPLE.COM", "example.com"),
        ("example.com.", "example.com"),
    ],
)
def test_a_url_or_host_port_suggests_its_domain(typed: str, meant: str) -> None:
    # (Issue 19: http://example.com got no "did you mean example.com?".)
    shown = invalid(typed, "allowed_domains")  # at the prompt
    assert shown == f"{typed!r}: not a domain; did you mean {meant}?"
    with pytest.raises(InvalidAnswer) as caught:  # in --data
        validate_answers(parse_data_items([f"allowed_domains={typed}"]))
    assert caught.value.message == f"invalid allowed_domains {shown}"


@pytest.mark.parametrize(
    "typed",
    ["https://x/path", "localhost", "http://[::1]:80", "https://" + "a" * 60 + ".example.com/x"],
)
def test_no_domain_to_suggest_or_no_room_says_what_a_domain_is(typed: str) -> None:
    shown = invalid(typed, "allowed_domains")
    assert shown.endswith(": not a domain like example.com or *.example.com"), shown
    assert len(shown) <= 78


def test_a_mount_path_under_home_is_expanded(tmp_path: Path) -> None:
    # (Issue 19: ~/notes was refused: "expected an absolute path".) HOME is this test's own.
    notes = Path.home() / "my notes"
    notes.mkdir()
    assert check_mount_paths("~/my notes, ~") == [str(notes), str(Path.home())]
    given = parse_data_items(["readonly_mounts=~/my notes"])
    assert validate_answers(given)["readonly_mounts"] == [str(notes)]
    assert normalized("~/my notes", "readonly_mounts") == [str(notes)]
    assert invalid("~/missing", "readonly_mounts") == "'~/missing': no such file or directory"


def test_a_mount_path_under_a_users_home_is_expanded() -> None:
    user = getpass.getuser()
    home = pwd.getpwnam(user).pw_dir
    assert check_mount_paths(f"~{user}/notes", must_exist=False) == [f"{home}/notes"]
    assert invalid("~no-such-user-cxgen/x", "readonly_mounts") == (
        "'~no-such-user-cxgen/x': no user 'no-such-user-cxgen' on this machine"
    )


def test_init_hook(tmp_path: Path) -> None:
    hook = tmp_path / "hook.sh"
    hook.write_text("echo hi\n")
    assert check_init_hook(str(hook)) == str(hook)
    assert check_init_hook("") == ""
    for bad in [str(tmp_path), str(tmp_path / "nope.sh"), f"{hook}\n"]:
        with pytest.raises(InvalidAnswer, match="init_hook"):
            check_init_hook(bad)


@pytest.mark.parametrize(
    "value",
    [
        "debian:bookworm-slim",
        "node:20-bookworm",
        "localhost:5000/team/img:1",
        "cxgen-test/bookworm:base",
        "debian@sha256:" + "a" * 64,
    ],
)
def test_good_images(value: str) -> None:
    assert check_image(value) == value


@pytest.mark.parametrize("value", ["debian; id", "Debian", "$(id)", "deb ian", "img:tag\n", ""])
def test_hostile_images(value: str) -> None:
    with pytest.raises(InvalidAnswer, match="base_image"):
        check_image(value)


def test_private_destinations() -> None:
    assert check_private_destinations("allowed-names") == "allowed-names"
    with pytest.raises(InvalidAnswer):
        check_private_destinations("allow-all")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("readonly", "readonly"), ("off", "off"), ("writable", "writable"), (False, "off")],
)
def test_git_access(given: object, expected: str) -> None:
    # False: YAML 1.1 reads a bare `off` (--data git=off) as a boolean.
    assert check_git(given) == expected


@pytest.mark.parametrize("value", ["on", True, "read-only", "", None, ["readonly"], "off; id"])
def test_git_access_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        check_git(value)
    assert caught.value.key == "git"


# Typed at a prompt (through jinja_ext, as copier.yml's validators call it) and given as
# --data, a list answer is parsed and checked by the same code.
TYPED_LISTS = [
    ("allowed_domains", "*.pythonhosted.org, pypi.org", ["*.pythonhosted.org", "pypi.org"]),
    ("allowed_domains", "[pypi.org, '*.pythonhosted.org']", ["pypi.org", "*.pythonhosted.org"]),
    ("allowed_domains", "*.pythonhosted.org", ["*.pythonhosted.org"]),
    ("apt_packages", "git jq, python3", ["git", "jq", "python3"]),
    ("apt_packages", "[git, jq]", ["git", "jq"]),
]


@pytest.mark.parametrize(("key", "typed", "expected"), TYPED_LISTS)
def test_typed_list_answers_parse_the_same_at_a_prompt_and_in_data(
    key: str, typed: str, expected: list[str]
) -> None:
    assert invalid(typed, key) == ""
    assert normalized(typed, key) == expected
    assert validate_answers(parse_data_items([f"{key}={typed}"]))[key] == expected


@pytest.mark.parametrize(
    ("key", "typed", "item"),
    [
        ("allowed_domains", "pypi.org, files.pythonhosted,org", "org"),
        ("allowed_domains", "pypi.org, http://x.example.com", "http://x.example.com"),
        ("apt_packages", "git, jq;id", "jq;id"),
        ("readonly_mounts", "relative/path", "relative/path"),
    ],
)
def test_an_invalid_item_is_named_in_one_short_line(key: str, typed: str, item: str) -> None:
    shown = invalid(typed, key)  # what the prompt shows, under the question
    assert shown.startswith(f"{item!r}: ")
    assert "\n" not in shown and len(shown) < 77
    with pytest.raises(InvalidAnswer) as caught:
        validate_answers(parse_data_items([f"{key}={typed}"]))
    assert caught.value.message == f"invalid {key} {shown}"


def test_yaml_lists_in_data_and_data_files_still_work() -> None:
    given = parse_data_items(["allowed_domains=[pypi.org, '*.github.com']", "agents=[shell]"])
    assert validate_answers(given)["allowed_domains"] == ["pypi.org", "*.github.com"]
    assert validate_answers({"apt_packages": ["git", "jq"]})["apt_packages"] == ["git", "jq"]


def test_a_list_answer_reaches_copier_as_text_every_release_reads() -> None:
    text = list_as_text(["pypi.org", "*.github.com"])
    assert check_domains(text) == ["pypi.org", "*.github.com"]  # releases asking for text
    assert yaml.safe_load(text) == ["pypi.org", "*.github.com"]  # releases asking for YAML


def test_a_missing_mount_is_refused_at_a_prompt_as_in_data() -> None:
    missing = "/nonexistent/cxgen-test"
    assert not Path(missing).exists()
    shown = invalid(missing, "readonly_mounts")
    assert shown == f"{missing!r}: no such file or directory"
    with pytest.raises(InvalidAnswer) as caught:
        validate_answers(parse_data_items([f"readonly_mounts={missing}"]))
    assert caught.value.message == f"invalid readonly_mounts {shown}"
    # Saved answers, re-rendered by `cxgen update` on a teammate's machine: the shape only.
    with checking_saved_answers():
        assert invalid(missing, "readonly_mounts") == ""
        assert invalid("relative", "readonly_mounts") != ""


def test_a_long_item_keeps_the_line_short() -> None:
    long = "/" + "/".join(["folder"] * 20) + "/missing"
    shown = invalid(long, "readonly_mounts")
    assert len(shown) <= 78
    assert shown.startswith("'/folder") and shown.endswith("/missing': no such file or directory")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LITELLM_KEY=llm.example.com", ["LITELLM_KEY=llm.example.com"]),
        ("A=x.example.com:8443, A=y.example.com", ["A=y.example.com"]),
        ("", []),
    ],
)
def test_relay_answers_name_a_variable_and_a_host(value: str, expected: list[str]) -> None:
    assert normalized(value, "relay") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("KEY", "expected NAME=HOST"),
        ("KEY=https://llm.example.com/v1", "did you mean KEY=llm.example.com?"),
        ("KEY=*.example.com", "not a host name"),
        ("KEY=example.com:99999", "not a host name"),
        ("PATH=example.com", "a variable the sandbox uses"),
        ("CXGEN_UID=example.com", "a variable the sandbox uses"),
        ("K$(id)=example.com", "expected NAME=HOST"),
    ],
)
def test_relay_answers_refuse_what_is_not_a_key_and_a_host(value: str, message: str) -> None:
    assert message in invalid(value, "relay")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11434", ["11434"]),
        ("11434, 4000 11434", ["11434", "4000"]),
        ("[11434, 4000]", ["11434", "4000"]),  # --data: YAML integers
        ([4000, "65535"], ["4000", "65535"]),  # --data-file
        (1, ["1"]),
        ("", []),
    ],
)
def test_host_ports_are_port_numbers(value: object, expected: list[str]) -> None:
    assert normalized(value, "host_ports") == expected


COMMIT = "0123456789abcdef" * 2 + "01234567"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            f"https://github.com/anthropics/skills@{COMMIT}#skills/pdf",
            [f"https://github.com/anthropics/skills@{COMMIT}#skills/pdf"],
        ),
        (
            f"https://git.example.com:8443/a/b.git@{COMMIT}, https://10.0.0.5/x@{COMMIT}#y/",
            [f"https://git.example.com:8443/a/b.git@{COMMIT}", f"https://10.0.0.5/x@{COMMIT}#y"],
        ),
        (
            f"[https://h.example/a@{COMMIT}#.curated/c]",
            [f"https://h.example/a@{COMMIT}#.curated/c"],
        ),
        ("", []),
    ],
)
def test_skills_are_https_urls_pinned_to_a_commit(value: str, expected: list[str]) -> None:
    assert normalized(value, "skills") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "'0': not a port (1-65535)"),
        ("65536", "not a port"),
        ("localhost:11434", "give the port alone: 11434"),
        ("http://127.0.0.1:4000", "give the port alone: 4000"),
        ("1.2.3.4", "not a port"),
        ("080", "not a port"),
        ("11434/tcp", "not a port"),
        ("80;id", "not a port"),
        ("[true]", "expected text"),
        ("[80", "not a list like [11434, 4000]"),
    ],
)
def test_host_ports_refuse_anything_but_a_port(value: str, message: str) -> None:
    assert message in invalid(value, "host_ports")


def test_host_ports_through_data_become_a_list() -> None:
    answers = validate_answers(parse_data_items(["host_ports=[11434, 4000]"]))
    assert answers["host_ports"] == ["11434", "4000"]
    with pytest.raises(InvalidAnswer, match="host_ports"):
        validate_answers(parse_data_items(["host_ports=11434,x"]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"http://github.com/a/b@{COMMIT}", "https:// only"),
        (f"git@github.com:a/b@{COMMIT}", "https:// only"),
        (f"file:///srv/repo@{COMMIT}", "https:// only"),
        ("https://github.com/a/b", "expected URL@COMMIT"),
        ("https://github.com/a/b@main", "a full 40-hex id"),
        (f"https://github.com/a/b@{COMMIT[:12]}", "a full 40-hex id"),
        (f"https://github.com/a/b@{COMMIT.upper()}", "a full 40-hex id"),
        (f"https://user:pw@github.com/a/b@{COMMIT}", "no user name or password"),
        (f"https://github.com/a/b?x=1@{COMMIT}", "expected https://github.com/OWNER/REPO"),
        (f"https://github.com/a/$(id)@{COMMIT}", "expected https://github.com/OWNER/REPO"),
        (f"https://github.com/a/b'x@{COMMIT}", "expected https://github.com/OWNER/REPO"),
        (f"https://github.com/a/b@{COMMIT}#../etc", "'.' and '..' are not allowed"),
        (f"https://github.com/a/b@{COMMIT}#x/'y", "expected https://github.com/OWNER/REPO"),
        (f"https://github.com/a/b@{COMMIT}#x/.y", "must start with a letter or digit"),
        (f"https://github.com:70000/a/b@{COMMIT}", "not a port number"),
        (f"https://a.example/x/pdf@{COMMIT}, https://b.example/y@{COMMIT}#pdf", "named 'pdf'"),
    ],
)
def test_skills_refuse_what_is_not_a_pinned_https_skill(value: str, message: str) -> None:
    assert message in invalid(value, "skills")
    with pytest.raises(InvalidAnswer):
        validate_answers({"skills": value})
