"""`pnsbox` builds only the invoked command's arguments; what it prints and parses must be
what the parser of every command prints and parses."""

import contextlib
import io

from pnsbox import cli


def outcome(parse, argv):
    """(exit code, stdout, stderr, the parsed arguments) of one parse."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parsed = vars(parse(argv))
        except SystemExit as exc:
            return exc.code, out.getvalue(), err.getvalue(), None
    return None, out.getvalue(), err.getvalue(), parsed


def every_argv():
    full = cli.parser()
    commands = full._subparsers._group_actions[0].choices
    argvs = [[], ["--help"], ["nope"], ["--bogus"], ["apply", "--confirm", "soon"], ["render", "--part", "pdf"],
             ["apply", "-c", "site", "--netns", "ns", "--socket", "s", "-m", "why"], ["diff", "1", "two"],
             ["report", "--csv", "--json"], ["rollback", "3", "--force"], ["lab", "exec", "hub", "--", "ping", "x"]]
    for name, command in commands.items():
        argvs += [[name], [name, "--help"], [name, "--bogus"], [name, "a", "b", "c"], [name, "--netns", "a", "--lab", "b"]]
        if command._subparsers is not None:
            for inner in command._subparsers._group_actions[0].choices:
                argvs += [[name, inner], [name, inner, "--help"], [name, inner, "--bogus"]]
    return argvs


def test_every_command_line_prints_and_parses_as_the_parser_of_every_command_does():
    argvs = every_argv()
    assert len(argvs) > 150  # every command and every subcommand of user, edge, ha and lab
    for argv in argvs:
        expected = outcome(cli.parser().parse_args, argv)
        assert outcome(cli.parse, argv) == expected, argv
    # the help names every command, and a command's help its own options
    assert all(name in outcome(cli.parse, ["--help"])[1] for name, _, _ in cli.COMMANDS)
    assert "--socket" in outcome(cli.parse, ["apply", "--help"])[1]


def test_a_command_gets_only_its_own_arguments():
    subparsers = cli.parser("apply")._subparsers._group_actions[0].choices
    assert list(subparsers) == ["apply"]
    assert {a.dest for a in subparsers["apply"]._actions} >= {"config", "netns", "socket", "confirm"}
    assert list(cli.parser()._subparsers._group_actions[0].choices) == [name for name, _, _ in cli.COMMANDS]
