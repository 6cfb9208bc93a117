"""The parts of the `rillet` command that need no workflow loader."""

from typer.testing import CliRunner

from rillet import __version__
from rillet.cli import app


def test_version_flag_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"rillet {__version__}"


def test_commands_are_listed_in_help():
    result = CliRunner().invoke(app, ["--help"])
    for command in ("run", "validate", "schema", "sim", "bench"):
        assert command in result.output
