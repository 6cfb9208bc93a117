"""The `rillet` command: run, batch, validate, schema, sim, serve, bench."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperArgument, TyperCommand

from rillet import __version__
from rillet.errors import RilletError, RunRefused, WorkflowError

class _Command(TyperCommand):
    """Help as click writes it: `rillet run [OPTIONS] FILE`, and an argument's name
    without a type tag beside it (this typer writes `{FILE}` and `FILE <file>`)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for param in self.params:
            if isinstance(param, TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar or "[OPTIONS]"]
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or (param.name or "").upper()).removesuffix("...")
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
        return pieces


app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Run AI workflows written in YAML and stream every token, live.")

EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED, EXIT_TERMINATED = 1, 2, 130, 143


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rillet {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, metavar="", help="Show the version and exit.")] = None
          ) -> None:
    pass


def _loader():  # noqa: ANN202 - the rillet.workflow.loader module
    try:
        from rillet.workflow import loader
    except ImportError:
        typer.echo("rillet cannot load workflows yet: the workflow loader is not built "
                   "(see the README's status section)", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return loader


def _load(path: Path):  # noqa: ANN202 - a Workflow
    load_workflow = _loader().load_workflow

    try:
        return load_workflow(path)
    except WorkflowError as exc:
        typer.echo(f"invalid workflow {path}:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


async def _until_sigterm(run):  # noqa: ANN001, ANN202 - a coroutine and its result
    """Await `run`; SIGTERM cancels it, so it ends (results written) as Ctrl-C ends it."""
    import signal

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
    except (NotImplementedError, RuntimeError):  # no signal handlers here (Windows, thread)
        pass
    try:
        return await run
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass


def _check_arguments(**arguments: object) -> None:
    from rillet.cli_checks import BadArgument, check_arguments

    try:
        check_arguments(**arguments)  # type: ignore[arg-type]
    except BadArgument as exc:
        typer.echo(f"rillet: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _refuse_code(workflow: object) -> None:
    from rillet.workflow.trust import CodeRefused, refuse_code

    try:
        refuse_code(workflow)
    except CodeRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def _parse_inputs(pairs: list[str]) -> dict[str, object]:
    inputs: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"'{pair}' is not KEY=VALUE", param_hint="--input")
        try:
            inputs[key] = json.loads(raw)
        except ValueError:
            inputs[key] = raw
    return inputs


@app.command(cls=_Command)
def run(
    file: Annotated[Path, typer.Argument(help="The workflow YAML file.", exists=True,
                                         dir_okay=False, metavar="FILE")],
    mode: Annotated[Optional[str], typer.Option(
        metavar="MODE", help="mock | sim | live | mixed. Default: $TEST_MODE, else mixed (each step live when "
             "its provider has credentials, else on the built-in simulator).")] = None,
    output_dir: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Where results go.")] = None,
    workspace_dir: Annotated[Optional[Path], typer.Option(metavar="DIR", help="The steps' working folder.")
                             ] = None,
    stream: Annotated[Optional[list[str]], typer.Option(
        metavar="HANDLER", help="Stream handler for every model step, replacing the workflow's (repeatable).")
                      ] = None,
    input: Annotated[Optional[list[str]], typer.Option(
        "--input", "-i", metavar="KEY=VALUE", help="KEY=VALUE for {{inputs.KEY}} (repeatable; JSON values ok).")
                     ] = None,
    script: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="Simulator/mock script (YAML) to answer prompts with.")] = None,
    resume: Annotated[bool, typer.Option(metavar="", help="Skip steps a checkpoint says are done.")] = False,
    telemetry: Annotated[Optional[bool], typer.Option(
        "--telemetry/--no-telemetry", metavar="", help="OpenTelemetry spans and metrics.")] = None,
    prewarm: Annotated[bool, typer.Option(
        metavar="", help="Start the next Claude step's CLI while the current one streams.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", metavar="",
                                             help="Only a failure's line (on stderr).")] = False,
    json_lines: Annotated[bool, typer.Option(
        "--json", metavar="", help="Print every event as one JSON line on stdout.")] = False,
    allow_read: Annotated[Optional[list[Path]], typer.Option(
        "--allow-read", metavar="DIR", help="A folder prompt files may also be read from "
                                            "(repeatable; default: only the workflow's own folder).")] = None,
    max_file_size: Annotated[Optional[int], typer.Option(
        min=1, metavar="BYTES", help="The largest prompt file, in bytes (default 10 MB).")] = None,
    no_code: Annotated[bool, typer.Option(
        "--no-code", metavar="", help="Refuse to run a workflow that names code (handlers, callbacks, "
                                      "hooks, MCP servers, shell tools): for files from elsewhere.")
                       ] = False,
    unset_names: Annotated[str, typer.Option(
        "--unset-names", metavar="error|empty", help="A template name nothing set: error stops the "
             "run (default); empty renders it as empty text with a warning, as pipeline_ex did.")
                           ] = "error",
) -> None:
    """Run a workflow, streaming every step as it happens."""
    from rillet.api import run_async
    from rillet.cli_report import JsonLines, RunReporter, describe_modes

    if mode is not None and mode not in ("mock", "sim", "live", "mixed"):
        raise typer.BadParameter("choose mock, sim, live or mixed", param_hint="--mode")
    if unset_names not in ("error", "empty"):
        raise typer.BadParameter("choose error or empty", param_hint="--unset-names")
    workflow = _load(file)
    _check_arguments(output_dir=output_dir, workspace_dir=workspace_dir, script=script)
    if no_code:
        _refuse_code(workflow)
    inputs = _parse_inputs(input or [])
    _check_before_run(workflow, mode, list(inputs), stream or [])
    listeners: list[object] = []
    reporter = None
    if json_lines:
        listeners.append(JsonLines(sys.stdout))
    elif not quiet:
        reporter = RunReporter(sys.stdout, output_dir or Path(workflow.defaults.output_dir),
                               errors=sys.stderr)
        reporter.intro(workflow, describe_modes(workflow, mode))
        listeners.append(reporter)
    options = dict(
        mode=mode, output_dir=output_dir, workspace_dir=workspace_dir,
        inputs=inputs, stream=stream,
        default_handlers=[] if (quiet or json_lines) else ["console"],
        listeners=listeners, script=script, resume=resume, telemetry=telemetry,
        prewarm=prewarm, quiet=quiet or json_lines, allow_code=not no_code,
        read_paths=[p.resolve() for p in allow_read or ()], max_file_bytes=max_file_size,
        unset_names=unset_names,
    )
    try:
        result = asyncio.run(_until_sigterm(run_async(workflow, **options)))
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.cancelled()
        raise typer.Exit(EXIT_CANCELLED) from None
    except asyncio.CancelledError:  # SIGTERM: the run wrote what it had, as on Ctrl-C
        if reporter is not None:
            reporter.cancelled()
        raise typer.Exit(EXIT_TERMINATED) from None
    except RilletError as exc:  # refused before it started, or its results could not be written
        typer.echo(f"rillet: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID if isinstance(exc, RunRefused) else EXIT_FAILED) from None
    if reporter is not None:
        reporter.outro(result)
    elif not result.success:  # quiet or --json: still say why, on stderr
        from rillet.cli_report import failure_lines

        typer.echo("\n".join(failure_lines(result)), err=True)
    raise typer.Exit(0 if result.success else
                     EXIT_CANCELLED if result.status == "cancelled" else EXIT_FAILED)


def _check_before_run(workflow: Any, mode: str | None, inputs: list[str],
                      handlers: list[str]) -> None:
    """Mistakes a run would only find late: each on its own line, then exit 2."""
    from rillet.engine.modes import default_run_mode
    from rillet.preflight import missing_credentials, unknown_handlers, unknown_inputs

    problems = unknown_inputs(workflow, inputs) + unknown_handlers(handlers)
    credentials = missing_credentials(workflow, mode or default_run_mode())
    if credentials:
        problems.append(credentials)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(EXIT_INVALID)


@app.command(cls=_Command)
def validate(files: Annotated[list[Path], typer.Argument(help="Workflow files to check.",
                                                         metavar="FILE")]) -> None:
    """Check workflow files; every problem names the file, line and key. Each file is
    checked, also after one that is missing or invalid."""
    load_workflow = _loader().load_workflow

    failed = False
    for path in files:
        try:
            workflow = load_workflow(path)
        except WorkflowError as exc:
            failed = True
            typer.echo(f"✗ {path}", err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
        else:
            from rillet.preflight import check_prompt_files

            missing, file_notes = check_prompt_files(path, workflow)
            if missing:
                failed = True
                typer.echo(f"✗ {path}", err=True)
                for problem in missing:
                    typer.echo(f"  {problem}", err=True)
                continue
            from rillet.workflow.caller_values import note as caller_needs

            steps = len(workflow.steps)
            typer.echo(f"✓ {path}: workflow '{workflow.name}', {steps} step{'s' * (steps != 1)}")
            needs = caller_needs(workflow)
            if needs:
                typer.echo(f"  note: it {needs}")
            for note in workflow.notes:
                typer.echo(f"  note: {note}")
            for note in file_notes:
                typer.echo(f"  note: {note}")
    raise typer.Exit(EXIT_INVALID if failed else 0)


@app.command(cls=_Command)
def schema(output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file instead of stdout.")] = None) -> None:
    """Print the JSON Schema of the workflow format (for editor completion)."""
    text = json.dumps(_loader().json_schema(), indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        typer.echo(text)


@app.command(cls=_Command)
def sim(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port (0 picks a free one).")] = 8765,
    script: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Script YAML (default: built-in).")
                      ] = None,
) -> None:
    """Serve the Anthropic and Gemini streaming APIs locally, answering from a script."""
    from rillet.sim.server import serve

    _check_arguments(script=script, port=port)
    serve(host, port, str(script) if script else None)


@app.command(cls=_Command)
def serve(
    file: Annotated[Path, typer.Argument(help="The workflow YAML file.", exists=True,
                                         dir_okay=False, metavar="FILE")],
    host: Annotated[str, typer.Option(
        metavar="HOST", help="Interface to listen on (loopback by default; anywhere else every "
             "request needs the server's token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port (0 picks a free one).")] = 8000,
    mode: Annotated[Optional[str], typer.Option(
        metavar="MODE", help="The page's default mode: mock | sim | live | mixed (the page can pick another)."
    )] = None,
    output_dir: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Where results go.")] = None,
    workspace_dir: Annotated[Optional[Path], typer.Option(metavar="DIR", help="The steps' working folder.")
                             ] = None,
    max_runs: Annotated[int, typer.Option(
        min=1, metavar="N", help="Runs at the same time; more are refused (HTTP 429).")] = 4,
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        "--allowed-host", metavar="HOST", help="A host name the page may be reached by, besides "
                                               "loopback and this machine's names (repeatable).")] = None,
    token: Annotated[Optional[str], typer.Option(
        envvar="RILLET_SERVE_TOKEN", metavar="TOKEN", help="The token requests need off loopback "
                                                           "(default: a random one, printed in the address).")] = None,
    no_code: Annotated[bool, typer.Option(
        "--no-code", metavar="", help="Refuse a workflow that names code (see rillet run --no-code).")
                       ] = False,
) -> None:
    """Serve a web page that runs the workflow and shows every token as it arrives."""
    from rillet.web.server import serve as serve_page

    _check_arguments(output_dir=output_dir, workspace_dir=workspace_dir, port=port)
    workflow = _load(file)
    if mode is not None and mode not in ("mock", "sim", "live", "mixed"):
        raise typer.BadParameter("choose mock, sim, live or mixed", param_hint="--mode")
    if no_code:
        _refuse_code(workflow)
    try:
        serve_page(workflow, host, port, mode=mode, output_dir=output_dir,
                   workspace_dir=workspace_dir, max_runs=max_runs,
                   allowed_hosts=tuple(allowed_host or ()), token=token,
                   allow_code=not no_code)
    except OSError as exc:
        typer.echo(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another "
                   "--port (0 picks a free one)", err=True)
        raise typer.Exit(EXIT_FAILED) from None


@app.command(cls=_Command)
def bench(
    quick: Annotated[bool, typer.Option(
        "--quick", metavar="", help="Small sizes, one repetition: the CI smoke run (well under a minute).")
                     ] = False,
    scenario: Annotated[Optional[list[int]], typer.Option(
        "--scenario", "-s", metavar="N", help="Run only scenario N (repeatable; 1-12).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Folder for the results JSON (default: bench/results).")] = None,
) -> None:
    """Benchmark rillet against the raw SDKs on the local simulator, side by side."""
    # The suite ships with the source tree (bench/ next to src/), not inside the package.
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "suite.py").is_file():
        typer.echo("the benchmark suite is part of rillet's source tree (bench/): run "
                   "`rillet bench` from a clone installed with `pip install -e .`", err=True)
        raise typer.Exit(EXIT_INVALID)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.suite import main as bench_main

    argv = (["--quick"] if quick else []) + [f"--scenario={n}" for n in scenario or ()]
    raise typer.Exit(bench_main(argv + ([f"--out={out}"] if out else [])))


from rillet.cli_batch import batch  # noqa: E402 - the command lives in its own module

app.command()(batch)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
