"""Command line: a thin layer over init/update; the one place errors become exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxgen import __version__
from cxgen.answers import load_data_file, parse_data_items
from cxgen.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CxgenError

if TYPE_CHECKING:
    from cxgen.moved_code import MovedScript
    from cxgen.update import UpdateResult


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, like every other usage error
        self.exit(EXIT_USAGE, f"cxgen: error: {message} (see --help)\n")


def _answers_from(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.data_file:
        data.update(load_data_file(Path(args.data_file)))
    data.update(parse_data_items(args.data))
    return data


def _cmd_init(args: argparse.Namespace) -> int:
    from cxgen.init import next_step, run_init

    dest = Path(args.path)
    result = run_init(
        dest,
        _answers_from(args),
        defaults=args.defaults,
        interactive=sys.stdin.isatty(),
        template_version=args.template_version,
    )
    print(f"cxgen: wrote {len(result.written)} files into {dest}:", file=sys.stderr)
    for rel in result.written:
        print(f"  {rel}", file=sys.stderr)
    if result.gitattributes_added:
        print(
            "cxgen: added to your .gitattributes (LF line endings in every checkout): "
            + ", ".join(f"`{rule}`" for rule in result.gitattributes_added),
            file=sys.stderr,
        )
    print(next_step(args.path, dest.expanduser().resolve()), file=sys.stderr)
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    from cxgen.update import run_update

    result = run_update(Path(args.path), _answers_from(args), dry_run=args.dry_run)
    if result.current:
        print(f"cxgen: already at v{result.new_version}; nothing to do", file=sys.stderr)
        return 0
    if args.dry_run:
        base = _dry_run_base(args.path, result.uncommitted, result.others_uncommitted)
        print(f"cxgen: dry run: {base}", file=sys.stderr)
    verb = "would update" if args.dry_run else "updated"
    print(
        f"cxgen: {verb} {args.path} {_update_what(result)}: {len(result.changed)} files changed",
        file=sys.stderr,
    )
    for name in result.changed:
        print(f"  {name}", file=sys.stderr)
    for name in result.kept:
        print(
            f"cxgen: kept {name}: the new template drops it, but you had changed it",
            file=sys.stderr,
        )
    if result.moved:
        _print_moved(result.moved, dry_run=args.dry_run)
    _print_uncommitted(result)
    if args.dry_run:
        sys.stdout.write(result.diff)
    if result.conflicts:
        would = "would leave " if args.dry_run else ""
        print(
            f"cxgen: {would}conflicts in: {', '.join(result.conflicts)}; "
            "resolve the <<<<<<< markers, then commit",
            file=sys.stderr,
        )
        return 0 if args.dry_run else 1
    if args.dry_run:
        return 0
    if result.moved:
        return 1
    print("next: review with `git diff`, then commit", file=sys.stderr)
    return 0


def _print_uncommitted(result: UpdateResult) -> None:
    """The uncommitted files the update left as they were, and a .gitattributes to commit."""
    if result.left_alone:
        count = len(result.left_alone)
        names = ", ".join(result.left_alone[:3]) + (" ..." if count > 3 else "")
        print(
            f"cxgen: left as {'it was' if count == 1 else 'they were'} (cxgen does not write "
            f"{'it' if count == 1 else 'them'}): {count} uncommitted or untracked "
            f"{'file' if count == 1 else 'files'} ({names})",
            file=sys.stderr,
        )
    if result.policy_widened:
        what = "; ".join(
            f"{kind}: {' '.join(words)}" for kind, words in result.policy_widened.items()
        )
        print(
            f"cxgen: the updated sandbox policy reaches further than you accepted ({what}), not "
            "by your --data: nothing was accepted; review it with `./run_in_container.sh "
            "accept`, or at your next start",
            file=sys.stderr,
        )
    if result.policy_unaccepted:
        print(
            "cxgen: the sandbox policy before this update was not the one you accepted (a "
            "pull's change?): nothing was accepted; review it with "
            "`./run_in_container.sh accept`, or at your next start",
            file=sys.stderr,
        )
    if result.gitattributes_uncommitted:
        print(
            "cxgen: .gitattributes is not committed: cxgen init wrote it (it keeps "
            "run_in_container.sh and .copier-answers.yml LF in every checkout); commit it with "
            "the update: `git add .gitattributes`",
            file=sys.stderr,
        )


def _print_moved(moved: MovedScript, *, dry_run: bool) -> None:
    """The user's edits to the one-file run script: one line each, with where to re-apply it."""
    kept = "would be kept" if dry_run else "is kept"
    print(
        "cxgen: moved: run_in_container.sh's code is now in .codex/run/ (the script only loads "
        f"it); your edited copy {kept} as {moved.kept}; each of your edits, and where its code "
        "is now:",
        file=sys.stderr,
    )
    for edit in moved.edits:
        print(
            f"  {moved.kept}:{edit.lines} ({edit.was_in}): re-apply in {edit.now_in}",
            file=sys.stderr,
        )
    print(f"cxgen: once re-applied, delete {moved.kept} and commit", file=sys.stderr)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from cxgen.doctor import run_doctor

    print(f"cxgen doctor {__version__}")
    report = run_doctor(Path(args.path) if args.path is not None else None)
    if report.blocking:
        print("cxgen: something above blocks running a sandbox (see its fix)", file=sys.stderr)
        return 1
    return 0


def _update_what(result: UpdateResult) -> str:
    """Say "from v0.1.0 to v0.2.0", which answers changed, or both."""
    answers = f"answers changed: {', '.join(result.answers_changed)}"
    if result.old_version == result.new_version:
        return f"at v{result.new_version} ({answers})"
    versions = f"from v{result.old_version} to v{result.new_version}"
    return f"{versions} ({answers})" if result.answers_changed else versions


def _dry_run_base(path: str, uncommitted: list[str], others: int) -> str:
    """What the dry run compared: the committed files, or the files as they are now."""
    ignored = (
        f" ({others} uncommitted {'change' if others == 1 else 'changes'} to files cxgen did not "
        "generate play no part)"
        if others
        else ""
    )
    if not uncommitted:
        return f"on a throwaway copy of {path} as last committed{ignored}"
    names = ", ".join(uncommitted[:3]) + (" ..." if len(uncommitted) > 3 else "")
    changes = "change" if len(uncommitted) == 1 else "changes"
    return (
        f"on a throwaway copy of {path} with its {len(uncommitted)} uncommitted {changes} to "
        f"generated files ({names}){ignored}; the update itself needs them committed"
    )


def _answers_epilog() -> str:
    """The answer keys and what they mean (copier.yml's questions, as the prompts ask them)."""
    from cxgen.answers import answer_help

    rows = answer_help()
    width = max(len(key) for key, _ in rows) + 2
    lines = [f"  {key:<{width}}{meaning}" for key, meaning in rows]
    return "answers (--data KEY=VALUE; lists as a, b or [a, b]):\n" + "\n".join(lines)


def _add_project_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="project folder (default: .)"
    )
    parser.add_argument(
        "-d",
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer a question (VALUE is YAML, e.g. allowed_domains='[pypi.org]'); repeatable",
    )
    parser.add_argument("--data-file", metavar="FILE", help="YAML file of answers")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = _Parser(
        prog="cxgen",
        description="Generate a firewalled Docker sandbox for AI coding agents, per project.",
    )
    parser.add_argument("--version", action="version", version=f"cxgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    init = sub.add_parser(
        "init",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_answers_epilog(),
        help="write run_in_container.sh and the sandbox files into a project",
        description="Ask which agents, domains, packages and mounts the sandbox gets, then write "
        "run_in_container.sh, .codex/run/, .codex/sandbox/ and .codex/.environment/ into PATH. "
        "Never overwrites an existing file.",
    )
    init.add_argument(
        "--defaults", action="store_true", help="use defaults for every unanswered question"
    )
    _add_project_options(init)
    init.add_argument(
        "--template-version",
        default=__version__,
        metavar="X.Y.Z",
        help=f"generate with an earlier released template (default: {__version__})",
    )
    init.set_defaults(handler=_cmd_init)
    update = sub.add_parser(
        "update",
        help="merge template improvements into a generated project, keeping your edits",
        description="Re-render the project with this cxgen's template and its saved answers, and "
        "merge three ways (old render, new render, your files). Works offline. Needs the "
        "project committed in git; conflicts are left as <<<<<<< markers and exit 1 (an edited "
        "one-file run_in_container.sh from 0.3 or earlier is kept beside the new one instead, "
        "its edits listed with where their code is now). What it wrote is accepted as your "
        "sandbox policy only over a policy you had accepted, and never a domain, host port or "
        "init hook --data did not ask for.",
    )
    update.add_argument(
        "--dry-run",
        action="store_true",
        help="print the diff the update would apply to the files as they are (uncommitted "
        "changes included); write nothing",
    )
    _add_project_options(update)
    update.set_defaults(handler=_cmd_update)
    doctor = sub.add_parser(
        "doctor",
        help="check Docker, the kernel's firewall support, bash, and a project's state",
        description="Check that this machine can run cxgen sandboxes (docker CLI, daemon, socket "
        "permission, builder, nf_tables in a throwaway container from a local image, bash) and, "
        "for a project (PATH, or the current folder when it is one): its answers, template "
        "version, image tag and whether that image exists, and whether you accepted its policy. "
        "Builds, pulls and accepts nothing. Exit 1 when something blocks running.",
    )
    doctor.add_argument(
        "path", nargs="?", default=None, metavar="PATH", help="project folder (default: .)"
    )
    doctor.set_defaults(handler=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run cxgen; map user errors to 1/2, ^C to 130, bugs to 3."""
    try:
        # Inside: --help reads the presets, and a broken preset is a one-line error too.
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except CxgenError as error:
        print(f"cxgen: error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("cxgen: interrupted; nothing more was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the last resort: say plainly that it is a bug
        print(
            f"cxgen: internal error: {type(error).__name__}: {error} (please report)",
            file=sys.stderr,
        )
        return EXIT_BUG
