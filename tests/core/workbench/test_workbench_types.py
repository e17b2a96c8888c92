"""The workbench is the one way from a spec to an answer: its public functions say what they
return (the type checker runs over core in tests/test_types.py; this pins the contract)."""

from __future__ import annotations

import ast
from pathlib import Path

WORKBENCH = Path(__file__).parents[3] / "core" / "workbench"


def _public_defs(tree: ast.Module) -> list[ast.FunctionDef]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            out.append(node)
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            out += [
                f
                for f in node.body
                if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
            ]
    return out


def test_every_public_workbench_function_has_a_return_type_that_is_not_any() -> None:
    files = sorted(WORKBENCH.glob("*.py"))
    assert len(files) >= 7
    bad = []
    for path in files:
        for fn in _public_defs(ast.parse(path.read_text(encoding="utf-8"))):
            returns = fn.returns
            shown = ast.unparse(returns) if returns is not None else "(none)"
            if returns is None or any(part.strip() == "Any" for part in shown.split("|")):
                bad.append(f"{path.name}:{fn.lineno} {fn.name} -> {shown}")
            for arg in fn.args.args + fn.args.kwonlyargs:
                if arg.arg not in ("self", "cls") and arg.annotation is None:
                    bad.append(f"{path.name}:{fn.lineno} {fn.name}({arg.arg}) has no type")
    assert not bad, "\n".join(bad)
