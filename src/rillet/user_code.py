"""The Python a workflow names (handler classes, callback functions) by dotted path.

A workflow is trusted like a Makefile: running it imports the modules it names, and only
those. No folder is put on `sys.path`, so a stray `brotli.py` beside a workflow is never
picked up by a library that looks for an optional module. A name is looked up among the
installed modules first, then as a file or package in the workflow's folder, which is
loaded by its path.

Validating imports nothing: under `checking()` a reference is checked by reading the
source (the module exists, it defines the name) without running a line of it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from rillet.errors import RunRefused

_FOLDER: ContextVar[Path | None] = ContextVar("rillet_code_folder", default=None)
_CHECKING: ContextVar[bool] = ContextVar("rillet_code_checking", default=False)
_REFUSED: ContextVar[bool] = ContextVar("rillet_code_refused", default=False)


def use_folder(folder: Path | None, *, allow_code: bool = True) -> None:
    """Modules the running workflow names may be files in `folder` (its own folder).
    `allow_code=False` (`--no-code`): loading any is refused, so code named where the
    up-front check cannot see (a nested pipeline file) is not run either."""
    _FOLDER.set(Path(folder).resolve() if folder is not None else None)
    _REFUSED.set(not allow_code)


@contextmanager
def checking(folder: Path | None = None) -> Iterator[None]:
    """Within: references are checked, never imported (validation runs no code)."""
    tokens = [_CHECKING.set(True)]
    if folder is not None:
        tokens.append(_FOLDER.set(Path(folder).resolve()))
    try:
        yield
    finally:
        for var, token in zip((_CHECKING, _FOLDER), tokens):
            var.reset(token)  # type: ignore[attr-defined]


def is_checking() -> bool:
    return _CHECKING.get()


def split_reference(reference: str) -> tuple[str, str]:
    """`pkg.module:attr` or `pkg.module.attr` -> ("pkg.module", "attr")."""
    module_name, sep, attr = reference.partition(":")
    if not sep:
        module_name, _, attr = reference.rpartition(".")
    if not module_name or not attr or not all(
            part.isidentifier() for part in (*module_name.split("."), *attr.split("."))):
        raise ValueError(f"'{reference}' is not a dotted path; write 'package.module:name'")
    return module_name, attr


def load_object(reference: str, *, folder: Path | None = None) -> Any:
    """The object a dotted path names, importing its module (see the module docstring);
    `folder`: the running workflow file's folder when it is not the run's own (a nested
    pipeline file). Raises ImportError or AttributeError naming what is missing, and
    RunRefused under `--no-code`."""
    module_name, attr = split_reference(reference)
    if _REFUSED.get():
        raise RunRefused(f"--no-code: '{reference}' names code, which this run does not "
                         f"load; run without --no-code only if you trust the workflow")
    token = _FOLDER.set(Path(folder).resolve()) if folder is not None else None
    try:
        target: Any = _import(module_name)
    finally:
        if token is not None:
            _FOLDER.reset(token)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def check_reference(reference: str) -> None:
    """Raise ImportError / AttributeError / ValueError when `reference` surely names
    nothing; runs no code of the module (a module installed elsewhere is taken on trust
    beyond its existence)."""
    module_name, attr = split_reference(reference)
    source = _source_in_folder(module_name)
    if source is None:
        top = module_name.split(".")[0]
        if top not in sys.modules and importlib.util.find_spec(top) is None:
            raise ImportError(f"no module named '{top}' (looked among installed packages"
                              f"{_folder_words()})")
        return
    first = attr.split(".")[0]
    if first not in _top_level_names(source):
        raise AttributeError(f"{source} defines no '{first}'")


def _import(module_name: str) -> Any:
    top = module_name.split(".")[0]
    if top not in sys.modules and importlib.util.find_spec(top) is None:
        folder = _FOLDER.get()
        spec = PathFinder.find_spec(top, [str(folder)]) if folder is not None else None
        if spec is None or spec.loader is None:
            raise ImportError(f"no module named '{top}' (looked among installed packages"
                              f"{_folder_words()})")
        module = importlib.util.module_from_spec(spec)
        sys.modules[top] = module  # so the package's own submodules and imports find it
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(top, None)
            raise
    return importlib.import_module(module_name)


def _source_in_folder(module_name: str) -> Path | None:
    """The .py file for `module_name` in the workflow's folder, unless an installed module
    of that name comes first."""
    folder = _FOLDER.get()
    top = module_name.split(".")[0]
    if folder is None or top in sys.modules or importlib.util.find_spec(top) is not None:
        return None
    base = folder.joinpath(*module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ImportError(f"no module named '{module_name}' (looked among installed packages"
                      f"{_folder_words()})")


def _top_level_names(source: Path) -> set[str]:
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise ImportError(f"{source} cannot be read as Python: {exc}") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:  # if/try blocks may define names too: count what they bind
            names.update(n.name for n in ast.walk(node)
                         if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
            names.update(n.id for n in ast.walk(node)
                         if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


def _folder_words() -> str:
    folder = _FOLDER.get()
    return f" and in the workflow's folder {folder}" if folder is not None else ""
