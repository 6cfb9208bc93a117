"""Measure rillet against a checkout of pipeline_ex: for each file in MANIFEST, does
`rillet validate` pass, and does `rillet run --mode mock` finish?

    .venv/bin/python tests/compat/measure_corpus.py PATH/TO/pipeline_ex [--verbose]

The checkout is copied to a temporary folder first, so runs write nothing into it; each
file is validated and run from the copy's root, as pipeline_ex ran them. Files that need
values from their caller (or a mock script, or `--unset-names empty`) get the ones
corpus_inputs.py lists. A file
with no top-level `workflow:` key is not a workflow (pipeline_ex refuses it too) and is left
out of the percentages.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from corpus_inputs import input_arguments, needs_parent, option_arguments, parent_workflow

HERE = Path(__file__).parent
RILLET = Path(sys.executable).with_name("rillet")


def manifest() -> list[str]:
    lines = (HERE / "pipeline_ex" / "MANIFEST").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def is_workflow(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return True  # a broken workflow is still a workflow
    return isinstance(data, dict) and "workflow" in data


def first_line(text: str) -> str:
    """The line that says why: a `file:line: problem` or the failure line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reasons = [line for line in lines if ".yaml:" in line or line.startswith("✗ failed")]
    return (reasons or lines or [""])[0][:160]


def measure(checkout: Path, verbose: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "pipeline_ex"
        shutil.copytree(checkout, tree, ignore=shutil.ignore_patterns(".git"))
        rows = []
        for name in manifest():
            path = tree / name
            # From the checkout's root, as pipeline_ex's users ran `mix pipeline.run
            # examples/x.yaml`: prompt files not beside the workflow are looked up there.
            validate = subprocess.run([RILLET, "validate", name], cwd=tree,
                                      capture_output=True, text=True)
            run = None
            if validate.returncode == 0:
                # The values its caller gives (corpus_inputs.py); a nested-pipeline fixture
                # runs under a parent workflow, as pipeline_ex's test runs it.
                target, cwd, inputs = name, tree, input_arguments(name)
                if needs_parent(name):
                    parent = tree / f"parent_of_{path.stem}.rillet.yaml"
                    parent.write_text(parent_workflow(name), encoding="utf-8")
                    target, cwd, inputs = parent.name, tree, []
                run = subprocess.run(
                    [RILLET, "run", "--mode", "mock", "-q", "--output-dir",
                     str(Path(tmp) / "out" / name), *option_arguments(name), target,
                     *inputs],
                    cwd=cwd, capture_output=True, text=True, timeout=300)
            why = first_line(validate.stdout + validate.stderr) if validate.returncode else (
                first_line(run.stdout + run.stderr) if run.returncode else "")
            rows.append((name, is_workflow(path), validate.returncode == 0,
                         run is not None and run.returncode == 0, why))
    for name, workflow, valid, ran, why in rows:
        mark = "  -  " if not workflow else ("run  " if ran else "valid" if valid else "  ✗  ")
        print(f"{mark} {name}" + (f"  — {why}" if verbose and why else ""))
    workflows = [row for row in rows if row[1]]
    valid = sum(row[2] for row in workflows)
    ran = sum(row[3] for row in workflows)
    print(f"\n{len(rows)} files, {len(rows) - len(workflows)} not workflows; of the "
          f"{len(workflows)} workflows {valid} validate ({valid / len(workflows):.0%}) and "
          f"{ran} run in mock mode ({ran / len(workflows):.0%})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of pipeline_ex")
    parser.add_argument("--verbose", action="store_true", help="say why each file failed")
    args = parser.parse_args()
    return measure(args.checkout, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
