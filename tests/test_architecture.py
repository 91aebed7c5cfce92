"""The import rules that keep the architecture: what each layer may depend on.

- the engine imports only the standard library, itself and `echo_tui.portable`
  (it runs headless, in tests and under any front end);
- the dashboard (`echo_tui.ui`) imports no command module: the command line
  builds the dashboard, never the other way round;
- the seam (`echo_tui.source`, the dashboard's Source and Controls) imports only
  the standard library and the engine: a source (remote, probe) implements it
  without Textual;
- the probe imports only the standard library: it runs inside other people's
  programs; its runner (`python -m echo_tui.probe`) may also import what serves a
  probed loop to viewers (echo_tui.remote.probed), which imports neither the
  dashboard nor any third-party package;
- the wire protocol and the records it shares with recordings import only the
  standard library and the engine's event types: the probe will speak it.

Every import counts, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "echo_tui"
COMMAND_MODULES = ("echo_tui.cli", "echo_tui.headless", "echo_tui.replay")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module that `source` (the module named `module`) imports, relative
    imports resolved to absolute names; `from x import y` counts as x.y (a module or a
    name in x: the rules below hold for both)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def imports_of_file(path: Path) -> set[str]:
    return imports_of(path.read_text(encoding="utf-8"), module_name(path), path.stem == "__init__")


def modules_under(name: str) -> list[Path]:
    base = PACKAGE.joinpath(*name.split(".")[1:])
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    return sorted(base.rglob("*.py"))


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def imports(layer: str) -> list[tuple[str, str]]:
    """(module, what it imports) for every module of `layer`."""
    return [
        (module_name(path), name)
        for path in modules_under(layer)
        for name in sorted(imports_of_file(path))
    ]


def outside(layer: str, allowed: tuple[str, ...]) -> list[str]:
    """The imports of `layer` from neither the standard library nor `allowed`."""
    return [
        f"{m} imports {n}" for m, n in imports(layer) if not (is_stdlib(n) or within(n, allowed))
    ]


def inside(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    """The imports of `layer` from `forbidden`."""
    return [f"{m} imports {n}" for m, n in imports(layer) if within(n, forbidden)]


def test_the_engine_imports_only_the_standard_library_and_portable() -> None:
    assert outside("echo_tui.engine", ("echo_tui.engine", "echo_tui.portable")) == []


def test_the_dashboard_imports_no_command_module() -> None:
    assert inside("echo_tui.ui", COMMAND_MODULES) == []


def test_the_seam_imports_only_the_standard_library_and_the_engine() -> None:
    assert outside("echo_tui.source", ("echo_tui.engine",)) == []


PROBE_RUNNER = "echo_tui.probe.__main__"
PROBE_SERVING = ("echo_tui.remote.probed", "echo_tui.remote.server")


def test_the_probe_imports_only_the_standard_library() -> None:
    library = [
        line
        for line in outside("echo_tui.probe", ("echo_tui.probe",))
        if not line.startswith(PROBE_RUNNER + " imports ")
    ]
    assert library == []
    assert outside(PROBE_RUNNER, ("echo_tui.probe", *PROBE_SERVING)) == []


def test_what_serves_a_probed_loop_imports_no_dashboard_and_no_third_party_package() -> None:
    """It runs inside the probed program (`--listen`): the standard library and echo_tui's
    engine-side modules only (the runtime check: tests/probe/test_core.py)."""
    for module in PROBE_SERVING:
        assert [
            n for _, n in imports(module) if not is_stdlib(n) and not within(n, ("echo_tui",))
        ] == []
        assert inside(module, ("echo_tui.ui", *COMMAND_MODULES)) == []


def test_the_protocol_imports_only_the_standard_library_and_the_event_types() -> None:
    events = ("echo_tui.engine.events",)
    assert outside("echo_tui.recordings.records", events) == []
    assert outside("echo_tui.remote.protocol", (*events, "echo_tui.recordings.records")) == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checker itself: relative imports resolve, imports inside functions count."""
    source = "from ...cli import main\ndef f():\n    import textual\n    from . import header\n"
    names = imports_of(source, "echo_tui.ui.widgets.example")
    assert names == {"echo_tui.cli.main", "textual", "echo_tui.ui.widgets.header"}
    assert not is_stdlib("textual")
    assert within("echo_tui.cli", COMMAND_MODULES)
