"""The ``hchaos`` command line.

Exit codes (the README documents them): 0 every check passed; 1 a check failed or could not
decide; 2 invalid input; 3 infrastructure error (missing tool, port taken, a process that
would not start, a fault that could not be healed); 4 aborted by ``hchaos abort`` (after
healing); 130 interrupted (after healing).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import EXIT_INFRASTRUCTURE, EXIT_INVALID_INPUT, HarnessError, InvalidInput

if TYPE_CHECKING:
    from harness.experiment import LoadedExperiment
    from harness.interrupt import Interruption

EXIT_INTERRUPTED = 130

# Off a terminal (CI logs, pipes) rich would wrap at 80 columns and fold the tables; logs
# are read in wide viewers, so use 140 unless COLUMNS says otherwise.
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140
console = Console(highlight=False, width=_PIPE_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_PIPE_WIDTH)

runs_dir_option = click.option(
    "--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where run folders go (default: $HCHAOS_RUNS_DIR or ./runs).")


def _labelled(label: str, style: str, text: str) -> Text:
    """``label: text`` with ``text`` verbatim: user text (names, paths, YAML) is never markup."""
    return Text.assemble((f"{label}:", style), " ", text)


def _report_failure(exc: HarnessError) -> int:
    err_console.print(_labelled("error", "bold red", exc.message), soft_wrap=True)
    if exc.hint:
        err_console.print(_labelled("hint", "yellow", exc.hint), soft_wrap=True)
    return exc.exit_code


def _guard(body: Callable[[Interruption], int], *, deferred: bool = False) -> None:
    """Run a command body, mapping errors and interrupts to exit codes.

    ``deferred`` (commands that start or undo things: ``run``, ``up``, ``rollback``): from here to
    the exit, SIGINT,
    SIGTERM and SIGHUP only request a stop (:mod:`harness.interrupt`); the body obeys at its
    safe points and raises :class:`~harness.interrupt.Interrupted` after healing and stopping
    everything, and a request that came after the body's last safe point is obeyed when it
    returns: exit 130 whatever the instant. Otherwise a plain KeyboardInterrupt comes from a
    command that had started nothing."""
    from harness.interrupt import (
        HANDLED_SIGNALS,
        Interrupted,
        Interruption,
        defer_interrupts_until_exit,
        signal_name,
    )

    interruption = Interruption()
    if deferred:
        defer_interrupts_until_exit(interruption)
    try:
        code = body(interruption)
        interruption.check()
    except HarnessError as exc:
        code = _report_failure(exc)
    except Interrupted as exc:
        err_console.print(Text(f"interrupted ({signal_name(exc.signum)}): faults healed, processes stopped",
                               style="yellow"))
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err_console.print(Text("interrupted (Ctrl-C)", style="yellow"))
        code = EXIT_INTERRUPTED
    if deferred:
        # Everything is clean now. Python's shutdown puts SIG_DFL back for signals it handled,
        # so a Ctrl-C landing there would kill the process (status -2, not our exit code):
        # ignore them for the last milliseconds.
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    sys.exit(code)


def _runs_dir(value: Path | None) -> Path:
    from harness.runner import default_runs_dir

    return value if value is not None else default_runs_dir()


backend_option = click.option(
    "--backend", type=click.Choice(["local", "docker", "compose"]), default=None,
    help="Where the topology runs, overriding the experiment's 'backend:' (docker: `make images` first).")


def with_backend(loaded: LoadedExperiment, backend: str | None) -> LoadedExperiment:
    """``loaded`` with its experiment's ``backend`` replaced by ``backend`` (None: unchanged)."""
    if backend is None or backend == loaded.experiment.backend:
        return loaded
    from dataclasses import replace

    return replace(loaded, experiment=loaded.experiment.model_copy(update={"backend": backend}))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hospital-chaos-harness", prog_name="hchaos")
def main() -> None:
    """Chaos experiments against hospital systems in two data centers."""


@main.command()
@click.argument("experiment_file", type=click.Path(path_type=Path))
@runs_dir_option
@click.option("--load-processes", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Run the experiment's load in N Locust worker processes (Locust's --processes), "
                   "overriding load.processes.")
@backend_option
@click.option("--dry-run", is_flag=True,
              help="Print the plan (`hchaos plan`) instead of running: nothing is started or contacted.")
def run(experiment_file: Path, runs_dir: Path | None, load_processes: int | None, backend: str | None,
        dry_run: bool) -> None:
    """Run an experiment end to end and print its verdicts."""
    if dry_run:
        _guard(lambda _: _print_plan(experiment_file, backend, as_json=False))
        return

    def body(interruption: Interruption) -> int:
        from dataclasses import replace

        from harness.console import ConsoleObserver
        from harness.experiment import load_experiment
        from harness.faults import unfinished_runs
        from harness.faults.rollback import runner_alive
        from harness.runner import run_experiment

        loaded = with_backend(load_experiment(experiment_file), backend)
        if load_processes is not None:
            exp = loaded.experiment
            if exp.load is None:
                raise InvalidInput(f"{experiment_file}: --load-processes needs a 'load' section in the experiment")
            if exp.load.remote_workers:
                raise InvalidInput(f"{experiment_file}: --load-processes cannot be used with load.remote_workers")
            load = exp.load.model_copy(update={"processes": load_processes})
            loaded = replace(loaded, experiment=exp.model_copy(update={"load": load}))
        target = _runs_dir(runs_dir)
        stale = [d for d in unfinished_runs(target) if runner_alive(d) is None]
        if stale:
            err_console.print(_labelled("warning", "yellow", f"{len(stale)} earlier run(s) under {target} did "
                                        f"not finish cleanly (newest: {stale[-1].name}); run `hchaos rollback`"))
        observer = ConsoleObserver(console)
        try:
            result = run_experiment(loaded, target, observer, interruption)
        finally:
            observer.stop()
        console.print(Text(f"run folder: {result.run_dir}  (report.json, timeline.jsonl, logs/)"))
        if result.heal_errors:
            for message in result.heal_errors:
                err_console.print(_labelled("heal error", "bold red", message))
            err_console.print("[yellow]hint:[/] run `hchaos rollback` to make sure nothing is left behind")
            return EXIT_INFRASTRUCTURE
        return result.exit_code

    _guard(body, deferred=True)


def _print_plan(experiment_file: Path, backend: str | None, *, as_json: bool) -> int:
    """Print the run plan of ``experiment_file``; 0 when every contact is allowed, else the
    located refusal (exit 2) after the plan."""
    from harness.experiment import load_experiment
    from harness.runplan import build_run_plan
    from harness.runplan.render import plan_json, print_plan
    from harness.safety.contacts import require_allowed

    plan = build_run_plan(with_backend(load_experiment(experiment_file), backend))
    if as_json:
        click.echo(plan_json(plan))
    else:
        print_plan(plan, console)
    require_allowed(plan.loaded, plan.contacts)
    return 0


@main.command()
@click.argument("experiment_file", type=click.Path(path_type=Path))
@backend_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (one document on stdout).")
def plan(experiment_file: Path, backend: str | None, as_json: bool) -> None:
    """Print what a run would do, without starting or contacting anything: the resolved
    topology, every address it would contact (and whether allow: permits it), and the
    time-ordered actions (proxies, toxics and their attributes, instance actions). Exit 0 when
    the run would be allowed, 2 when not (or the experiment is invalid)."""
    _guard(lambda _: _print_plan(experiment_file, backend, as_json=as_json))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check experiment files (shape, values and names against the topology) without running."""

    def body(interruption: Interruption) -> int:
        from harness.experiment import load_experiment
        from harness.runner.planning import plan_faults

        bad = 0
        for path in files:
            try:
                plans = plan_faults(load_experiment(path))
            except HarnessError as exc:
                bad += 1
                err_console.print(_labelled("invalid", "bold red", str(exc)), soft_wrap=True)
                continue
            console.print(Text.assemble(("ok", "green"), f" {path} ({len(plans)} fault(s))"))
        return EXIT_INVALID_INPUT if bad else 0

    _guard(body)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of experiment files (for editors)."""
    from harness.experiment import experiment_json_schema

    text = json.dumps(experiment_json_schema(), indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n")
        console.print(f"wrote {output}")


@main.command()
@click.argument("experiment_file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The Compose file to write (its Toxiproxy and HAProxy configurations go beside it).")
@click.option("--project", default=None, help="The Compose project name (default: the experiment's compose.project).")
@click.option("--toxiproxy-port", type=click.IntRange(0, 65535), default=8474, show_default=True,
              help="Where Toxiproxy's API is published on 127.0.0.1 (0: a free port).")
def compose(experiment_file: Path, output: Path, project: str | None, toxiproxy_port: int) -> None:
    """Write the experiment's topology as a Compose v2 file (docker compose -f FILE up --wait)."""

    def body(interruption: Interruption) -> int:
        from harness.backends.compose.file import compose_files, write_compose_files
        from harness.experiment import load_experiment
        from harness.runner.backend_options import local_options
        from harness.runner.planning import plan_faults
        from harness.runner.targets import topology_for

        loaded = with_backend(load_experiment(experiment_file), "docker")
        plan_faults(loaded)  # what runs in containers: a command service is refused, located
        name = project or loaded.experiment.compose.project
        files = compose_files(topology_for(loaded.experiment), local_options(loaded.experiment), project=name,
                              base_name=output.with_suffix("").name, toxiproxy_port=toxiproxy_port or None)
        for path in write_compose_files(files, output):
            console.print(f"wrote {path}")
        console.print(Text(f"up: docker compose -f {output} up --wait   (project {name}; images: make images)"))
        return 0

    _guard(body)


@main.command()
def doctor() -> None:
    """Report every tool the harness needs: version and where it came from."""
    from harness.tools import ToolInfo, survey

    table = Table(title="hchaos doctor")
    for column in ("tool", "status", "version", "path", "source"):
        table.add_column(column, overflow="fold")
    problems = 0
    for item in survey():
        if isinstance(item, ToolInfo):
            table.add_row(item.name, "[green]ok[/]", item.version, str(item.path), item.source)
        else:
            problems += 1
            table.add_row(item.name, "[red]missing[/]", "", item.message, item.hint)
    # Docker serves only the docker backend: its rows inform, they never fail doctor.
    from harness.backends.docker import images

    try:
        engine: str | None = images.engine_version()
        table.add_row("docker engine", "[green]ok[/]", engine,
                      os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), "docker SDK")
    except HarnessError as exc:
        engine = None
        table.add_row("docker engine", "[yellow]missing[/]", "", Text(exc.message), exc.hint)
    compose = images.compose_version()
    if compose:
        table.add_row("docker compose", "[green]ok[/]", compose, "docker compose (CLI plugin)", "PATH")
    else:
        table.add_row("docker compose", "[yellow]missing[/]", "", "`docker compose version` does not answer",
                      images.INSTALL_HINT)
    for image in images.image_report() if engine else []:
        if image.present:
            commit = image.commit or "?"
            short = commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")
            table.add_row(image.name, "[green]ok[/]", f"built from {short}", f"created {image.created or '?'} UTC",
                          "docker image")
        else:
            table.add_row(image.name, "[yellow]missing[/]", "", "not built", images.MAKE_IMAGES_HINT)
    for name in [] if engine else images.IMAGES:
        table.add_row(name, "[yellow]unknown[/]", "", "no Docker engine to ask", images.INSTALL_HINT)
    console.print(table)
    sys.exit(EXIT_INFRASTRUCTURE if problems else 0)


@main.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@runs_dir_option
@click.option("--force", is_flag=True, help="Roll back even if the run's runner is still alive.")
def rollback(run_dirs: tuple[Path, ...], runs_dir: Path | None, force: bool) -> None:
    """Undo what killed runs left behind: toxics, disabled links, processes.

    With no RUN_DIRS, every unfinished run under the runs folder."""

    def body(interruption: Interruption) -> int:
        from harness.faults import rollback_run, unfinished_runs

        targets = list(run_dirs) or unfinished_runs(_runs_dir(runs_dir))
        if not targets:
            console.print("nothing to roll back: every run finished cleanly")
            return 0
        failed = 0
        for run_dir in targets:
            result = rollback_run(run_dir, force=force)
            if result.nothing_to_do:
                console.print(f"{run_dir}: nothing left behind; marked as ended", markup=False)
            for line in result.describe():
                if not line.startswith("error:"):
                    console.print(f"{run_dir}: {line}", markup=False)
            for message in result.errors:
                failed += 1
                err_console.print(_labelled(str(run_dir), "bold red", message))
        return EXIT_INFRASTRUCTURE if failed else 0

    _guard(body, deferred=True)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--reason", default="no reason given", show_default=True, help="Why: recorded on the timeline.")
@click.option("--wait", type=click.FloatRange(1, 3600), default=120, show_default=True, metavar="SECONDS",
              help="How long to wait for the run to heal and end.")
def abort(run_dir: Path, reason: str, wait: float) -> None:
    """Stop a running experiment (or `hchaos up`) now, from another terminal: its faults are
    healed at once, its processes stopped, and the run ends with the verdict 'aborted' (its exit
    code is 4). Waits until it has ended: exit 0 when it ended aborted, 2 when it had ended
    otherwise first, 3 when it could not clean up."""

    def body(interruption: Interruption) -> int:
        from harness.run.abort import request_abort

        status = request_abort(run_dir, reason, wait=wait, on_progress=lambda line: console.print(line, markup=False))
        console.print(Text(f"run {run_dir.name} ended: {status}"))
        if status == "aborted":
            return 0
        if status.endswith("-with-cleanup-errors"):
            err_console.print(_labelled("error", "bold red", "the run could not clean up everything"))
            err_console.print(_labelled("hint", "yellow", f"hchaos rollback {run_dir}"))
            return EXIT_INFRASTRUCTURE
        err_console.print(_labelled("note", "yellow", "the run ended before it saw the abort request"))
        return EXIT_INVALID_INPUT

    _guard(body)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report(run_dir: Path) -> None:
    """Re-judge a finished run offline from its folder (timeline + experiment copy)."""

    def body(interruption: Interruption) -> int:
        from harness.checks import worst
        from harness.console import verdict_table
        from harness.experiment import load_experiment
        from harness.runner import judge_run

        verdicts = judge_run(load_experiment(run_dir / "experiment.yaml"), run_dir)
        console.print(verdict_table(verdicts))
        return 0 if worst(v.outcome for v in verdicts).value == "pass" else 1

    _guard(body)


@main.command()
@click.argument("experiment_file", type=click.Path(path_type=Path))
@runs_dir_option
@backend_option
def up(experiment_file: Path, runs_dir: Path | None, backend: str | None) -> None:
    """Bring the experiment's topology up and keep it running until Ctrl-C (no faults)."""

    def body(interruption: Interruption) -> int:
        from harness.backends.factory import create_backend
        from harness.errors import EXIT_ABORTED
        from harness.experiment import load_experiment
        from harness.faults.lifeline import Lifeline
        from harness.interrupt import Interrupted
        from harness.run.abort import ABORT_FILE
        from harness.run.journal import Journal
        from harness.runner.planning import preflight
        from harness.runner.rundir import create_run_dir
        from harness.runner.targets import topology_for

        loaded = with_backend(load_experiment(experiment_file), backend)
        preflight(loaded)  # the same checks as `run`: names against the topology, contacts allowed
        run_dir = create_run_dir(_runs_dir(runs_dir), f"{loaded.experiment.name}-up", loaded.path,
                                 loaded.topology_source.path if loaded.topology_source else None)
        journal = Journal(run_dir, run_dir.name)
        lifeline = Lifeline(run_dir)
        lifeline.start()
        running = create_backend(loaded, topology_for(loaded.experiment), run_dir, journal=journal,
                                 interruption=interruption)
        interruption.watch_abort(run_dir / ABORT_FILE)  # `hchaos abort RUN_DIR` stops it too
        status = "stopped"
        try:
            endpoints = running.up()
            console.print_json(json.dumps(endpoints.to_json()))
            console.print(Text(f"run folder: {run_dir}; press Ctrl-C (or `hchaos abort {run_dir}`) to stop"))
            while True:
                interruption.sleep(1)
        except Interrupted as stop:
            if not stop.aborted:
                raise
            interruption.clear_abort()
            status = "aborted"
            return EXIT_ABORTED
        finally:
            running.down()
            journal.run_ended(status)
            journal.close()
            lifeline.release()

    _guard(body, deferred=True)


if __name__ == "__main__":
    main()
