"""Writes latent_explorer/web/contract.js, the JSDoc twin of latent_explorer/contract.py's dataclasses, which the
browser's modules read as their types. Run after a change to the contract:

    python -m devtools.contract_js

tests/core/test_component_contract.py fails while the file differs from what this writes.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from pathlib import Path

from latent_explorer import contract

CONTRACT_JS = Path(contract.__file__).resolve().parent / "web" / "contract.js"

_JS_SCALARS = {str: "string", int: "number", float: "number", bool: "boolean"}


def js_type(annotation) -> str:
    """A Python annotation of latent_explorer/contract.py as a JSDoc type."""
    if annotation in _JS_SCALARS:
        return _JS_SCALARS[annotation]
    if dataclasses.is_dataclass(annotation):
        return annotation.__name__
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union) and type(None) in arguments:
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return "?" + js_type(inner)
    if origin is list:
        return js_type(arguments[0]) + "[]"
    if origin is dict:
        return f"Object<{js_type(arguments[0])}, {js_type(arguments[1])}>"
    raise TypeError(f"no JSDoc type for {annotation!r}")


def _comments(cls) -> dict[str, str]:
    """Each field's trailing comment in the class's source, which the JSDoc repeats."""
    found = {}
    for line in inspect.getsource(cls).splitlines():
        name, colon, rest = line.strip().partition(":")
        if colon and name.isidentifier() and "#" in rest:
            found[name] = rest.split("#", 1)[1].strip()
    return found


def typedef(cls) -> str:
    hints, comments = typing.get_type_hints(cls), _comments(cls)
    lines = ["/**", f" * {' '.join(cls.__doc__.split())}", f" * @typedef {{Object}} {cls.__name__}"]
    for field in dataclasses.fields(cls):
        note = f" {comments[field.name]}" if field.name in comments else ""
        lines.append(f" * @property {{{js_type(hints[field.name])}}} {field.name}{note}")
    return "\n".join(lines + [" */"])


def contract_js() -> str:
    header = ("// Written by `python -m devtools.contract_js` from latent_explorer/contract.py: edit that file, "
              "not this one.\n// What the server sends each component (payloads) and what the components send back "
              "(events).\n")
    sections = ["// --- payloads", *map(typedef, contract.PAYLOADS), "// --- events",
                *map(typedef, contract.EVENTS)]
    return header + "\n\n".join(sections) + "\n\nexport {};\n"


def main() -> int:
    text = contract_js()
    if CONTRACT_JS.exists() and CONTRACT_JS.read_text(encoding="utf-8") == text:
        print(f"{CONTRACT_JS} is up to date")
        return 0
    CONTRACT_JS.write_text(text, encoding="utf-8")
    print(f"wrote {CONTRACT_JS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
