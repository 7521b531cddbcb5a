"""The contract between the server and the browser components (latent_explorer/contract.py and web/): every
payload and event is a dataclass whose JSDoc typedef web/contract.js holds as devtools/contract_js.py writes it,
nested shapes by name, null where Python allows None; the package's manifest (latent_explorer/pyproject.toml)
declares every component with the files it names; the runtime's modules import one another as
web/runtime_loader.js can link them, and export what the components' own modules use."""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import time
import typing
from pathlib import Path

import numpy as np
import pytest

from devtools import contract_js
from latent_explorer import components, contract
from latent_explorer.pack import encode_pack

REPO_ROOT = Path(__file__).resolve().parents[2]
TYPEDEF = re.compile(r"/\*\*(?:(?!\*/).)*?@typedef\s+\{Object\}\s+(\w+)((?:(?!\*/).)*)\*/", re.S)
PROPERTY = re.compile(r"@property\s+\{(.+?)\}\s+(\w+)")
# A relative import of one of our modules, as web/runtime_loader.js rewrites it (its RELATIVE_IMPORT).
RELATIVE_IMPORT = re.compile(r"""\bfrom\s*(['"])\./([\w.-]+\.js)\1""")
MAX_LINES = 500  # a file of web/ a newcomer can read: a concern of its own, not a part of several


def js_typedefs(text: str) -> dict[str, dict[str, str]]:
    """Each ``@typedef {Object} Name`` of a script: {field: its JSDoc type}."""
    return {name: dict((field, kind) for kind, field in PROPERTY.findall(body))
            for name, body in TYPEDEF.findall(text)}


def web_text(name: str) -> str:
    return (components.WEB / name).read_text(encoding="utf-8")


def relative_imports(name: str) -> list[str]:
    return [imported for _, imported in RELATIVE_IMPORT.findall(web_text(name))]


def test_the_typedef_parser_reads_fields_and_types():
    text = """/**
     * @typedef {Object} Thing
     * @property {string} name its name
     * @property {?{a: number}} extra
     */
    /** @typedef {Object} Empty */"""
    assert js_typedefs(text) == {"Thing": {"name": "string", "extra": "?{a: number}"}, "Empty": {}}


def test_contract_js_is_what_the_dataclasses_write():
    assert contract_js.CONTRACT_JS.read_text(encoding="utf-8") == contract_js.contract_js(), (
        "web/contract.js is out of date: run python -m devtools.contract_js")


@pytest.mark.parametrize("cls", contract.PAYLOADS + contract.EVENTS, ids=lambda cls: cls.__name__)
def test_each_payload_and_event_has_a_typedef_of_its_fields(cls):
    typedef = js_typedefs(contract_js.contract_js())[cls.__name__]
    hints = typing.get_type_hints(cls)
    assert list(typedef) == [field.name for field in dataclasses.fields(cls)]
    for name, kind in typedef.items():
        assert kind.startswith("?") == (type(None) in typing.get_args(hints[name])), f"{cls.__name__}.{name}: {kind}"
        # Nested payloads by name, so the browser's code reads a declared shape, never an anonymous object.
        assert "Object}" not in kind and not re.search(r"\{\w+:", kind), f"{cls.__name__}.{name}: {kind}"


def test_no_payload_field_is_a_dict_of_unknown_shape():
    for cls in contract.PAYLOADS:
        for name, hint in typing.get_type_hints(cls).items():
            kinds = typing.get_args(hint) or (hint,)
            assert dict not in kinds and not any(typing.get_origin(k) is dict and not typing.get_args(k)
                                                 for k in kinds), f"{cls.__name__}.{name}: {hint}"


def test_python_types_become_jsdoc_types():
    assert contract_js.js_type(list[list[float]]) == "number[][]"
    assert contract_js.js_type(dict[str, list[float]]) == "Object<string, number[]>"
    assert contract_js.js_type(contract.PackArray | None) == "?PackArray"
    assert contract_js.js_type(int | None) == "?number"
    with pytest.raises(TypeError):
        contract_js.js_type(set[int])


def test_a_component_receives_its_payload_as_nested_plain_objects():
    data = contract.MapData(
        pack="p", kind="vae", view="tsne", decodes=False, points=contract.PackArray("t", "tsne"),
        axis_titles=["a", "b"], extent=[[0.0, 1.0], [0.0, 1.0]], equal_axes=False, view_key="k", height=500,
        colours=["#000000"], highlight="#D62728",
        selected=None, location=None, region=contract.RegionData("box", [[0.0, 0.0], [1.0, 1.0]]), posterior=False,
        background=False, eps=None, ack=0, probe=None)
    sent = data.to_data()
    assert sent["points"] == {"pack": "t", "array": "tsne"} and sent["region"]["shape"] == "box"
    assert sent["decode_url"] is None and sent["overlays"] is None


def test_the_package_manifest_declares_every_component_with_its_files():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    manifest = tomllib.loads((REPO_ROOT / "latent_explorer" / "pyproject.toml").read_text())
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    # Streamlit takes the manifest for the distribution of that name, and ships it only as package data.
    assert manifest["project"]["name"] == project["project"]["name"]
    assert "pyproject.toml" in project["tool"]["setuptools"]["package-data"]["latent_explorer"]
    assert "streamlit" not in project.get("tool", {}), "one manifest: the package's"
    entries = {entry["name"]: entry["asset_dir"] for entry in manifest["tool"]["streamlit"]["component"]["components"]}
    assert entries == dict.fromkeys(components.COMPONENTS, "web")
    assert components.WEB == REPO_ROOT / "latent_explorer" / "web"
    for name, assets in components.COMPONENTS.items():
        for kind in ("js", "css"):
            if kind in assets:
                assert (components.WEB / assets[kind]).is_file(), f"{name}: {assets[kind]} is missing"


def test_the_runtime_modules_are_linked_from_the_entry_without_a_cycle():
    order, visiting = [], set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name in components.RUNTIME_MODULES, f"{path[-1]} imports {name}, not in RUNTIME_MODULES"
        assert name not in visiting, f"an import cycle: {' -> '.join((*path, name))}"
        if name in order:
            return
        visiting.add(name)
        for imported in relative_imports(name):
            visit(imported, (*path, name))
        visiting.discard(name)
        order.append(name)

    visit(components.RUNTIME_ENTRY, ("RUNTIME_ENTRY",))
    # Every module listed is loaded, and the loader (blob: URLs, linked in dependency order) can link each.
    assert sorted(order) == sorted(components.RUNTIME_MODULES)
    assert len(set(components.RUNTIME_MODULES)) == len(components.RUNTIME_MODULES)


def test_every_file_of_web_is_a_module_of_the_runtime_or_of_a_component():
    component_modules = {assets["js"] for assets in components.COMPONENTS.values()}
    component_modules |= {imported for name in component_modules for imported in relative_imports(name)}
    assert not component_modules & set(components.RUNTIME_MODULES), "Streamlit and the runtime would each load it"
    scripts = {path.name for path in components.WEB.glob("*.js")}
    # contract.js holds types for the JSDoc only: nothing loads it.
    assert scripts == component_modules | set(components.RUNTIME_MODULES) | {contract_js.CONTRACT_JS.name}


def test_the_entry_exports_what_the_components_modules_use():
    entry = web_text(components.RUNTIME_ENTRY)
    exported = re.search(r"^export default \{(.*?)^\};", entry, re.S | re.M).group(1)
    assert re.search(r"^\s*registerPack:", exported, re.M) and re.search(r"^\s*receiveThumbnails:", exported, re.M)
    classes = dict(re.findall(r"(\w+): (\w+)", re.search(r"components: \{(.*?)\}", exported).group(1)))
    # web/mount.js makes each of these components from the class of that name.
    mounted = {name for name, assets in components.COMPONENTS.items() if assets["js"] == "mount.js"}
    assert set(classes) == mounted
    for name, cls in classes.items():
        assert re.search(rf"^import {cls} from '\./[\w.]+';", entry, re.M), f"{name}: {cls} is not imported"
    # No script reaches another through the page's global scope any more.
    for path in components.WEB.glob("*.js"):
        assert not re.search(r"window\.lx[A-Z]", path.read_text(encoding="utf-8")), path.name


def test_no_file_of_web_is_longer_than_500_lines():
    lengths = {path.name: len(path.read_text(encoding="utf-8").splitlines())
               for path in [*components.WEB.glob("*.js"), *components.WEB.glob("*.css")]}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_plotly_js_is_the_installed_packages():
    import plotly

    copied = components.WEB / components.PLOTLY_JS
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    # Compressed once, on the disk: the server's gzip layer leaves application/gzip alone, the browser inflates it.
    assert copied.name.endswith(".gz") and gzip.decompress(copied.read_bytes()) == shipped.read_bytes()


def test_a_pack_is_published_once_as_a_file_and_pruned_when_unused_for_a_month(tmp_path, monkeypatch):
    monkeypatch.setattr(components, "WEB", tmp_path)
    pack = encode_pack({"type": "test"}, {"values": np.arange(5, dtype=np.float32)})
    name = components.published_pack(pack)
    assert name == f"packs/{pack.id}.lxp.gz"
    assert gzip.decompress((tmp_path / name).read_bytes()) == pack.data
    old = encode_pack({"type": "test"}, {"values": np.zeros(3, dtype=np.float32)})
    components.published_pack(old)
    month_ago = time.time() - (components.PACK_FILES_KEPT_DAYS + 1) * 86_400
    os.utime(tmp_path / components.published_pack(old), (month_ago, month_ago))
    os.utime(tmp_path / name, (month_ago, month_ago))
    components.published_pack(pack)  # sent again: in use, kept
    components.published_pack(encode_pack({"type": "test"}, {"values": np.ones(2, dtype=np.float32)}))  # a new one
    assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == sorted(
        [f"{pack.id}.lxp.gz", f"{encode_pack({'type': 'test'}, {'values': np.ones(2, dtype=np.float32)}).id}.lxp.gz"])


def test_a_read_only_installation_sends_packs_inline(tmp_path, monkeypatch):
    monkeypatch.setattr(components, "WEB", tmp_path / "missing" / "web")  # no folder can be made there
    (tmp_path / "missing").write_text("a file, not a folder")
    assert components.published_pack(encode_pack({"type": "test"}, {"v": np.zeros(1, dtype=np.float32)})) is None


def test_member_bits_mark_exactly_the_members_first_point_lowest():
    import base64

    import numpy as np

    indices = np.array([0, 3, 8, 69_999])
    bits = np.frombuffer(base64.b64decode(components.member_bits(indices, 70_000)), np.uint8)
    assert len(bits) == 8_750 and bits[0] == 0b1001 and bits[1] == 1
    assert np.flatnonzero(np.unpackbits(bits, bitorder="little")[:70_000]).tolist() == indices.tolist()
