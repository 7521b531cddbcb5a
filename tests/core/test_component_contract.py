"""The contract between the server and the browser components (latent_explorer/components.py and web/): each
dataclass a component receives and its JSDoc typedef name the same fields, null where the other allows None;
the package's manifest (latent_explorer/pyproject.toml) declares every component with the files it names; the
runtime's scripts define what it mounts."""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from latent_explorer import components
from latent_explorer.pack import encode_pack

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = {"MapData": components.MapData, "CardData": components.CardData,
             "EditorData": components.EditorData, "PadData": components.PadData}
TYPEDEF = re.compile(r"/\*\*(?:(?!\*/).)*?@typedef\s+\{Object\}\s+(\w+)((?:(?!\*/).)*)\*/", re.S)
PROPERTY = re.compile(r"@property\s+\{(.+?)\}\s+(\w+)")


def js_typedefs(text: str) -> dict[str, dict[str, str]]:
    """Each ``@typedef {Object} Name`` of a script: {field: its JSDoc type}."""
    return {name: dict((field, kind) for kind, field in PROPERTY.findall(body))
            for name, body in TYPEDEF.findall(text)}


def all_typedefs() -> dict[str, dict[str, str]]:
    found = {}
    for name in components.RUNTIME_SCRIPTS:
        found.update(js_typedefs((components.WEB / name).read_text(encoding="utf-8")))
    return found


def test_the_typedef_parser_reads_fields_and_types():
    text = """/**
     * @typedef {Object} Thing
     * @property {string} name its name
     * @property {?{a: number}} extra
     */
    /** @typedef {Object} Empty */"""
    assert js_typedefs(text) == {"Thing": {"name": "string", "extra": "?{a: number}"}, "Empty": {}}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_each_dataclass_and_its_typedef_name_the_same_fields(name):
    typedefs = all_typedefs()
    assert name in typedefs, f"no @typedef {{Object}} {name} in {components.RUNTIME_SCRIPTS}"
    python = {field.name: field.type for field in dataclasses.fields(CONTRACTS[name])}
    javascript = typedefs[name]
    assert list(javascript) == list(python), f"{name}: the browser's fields differ from the server's"
    for field, annotation in python.items():
        nullable = "None" in str(annotation)
        assert javascript[field].startswith("?") == nullable, (
            f"{name}.{field}: {annotation} in Python, {{{javascript[field]}}} in JavaScript")


def test_a_field_missing_on_one_side_fails_the_check():
    typedefs = all_typedefs()
    fields = [field.name for field in dataclasses.fields(components.EditorData)]
    assert list(typedefs["EditorData"]) == fields
    assert list(js_typedefs("/** @typedef {Object} EditorData\n * @property {string} pack */")["EditorData"]) \
        != fields


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


def test_the_runtime_scripts_define_what_it_mounts():
    scripts = "\n".join((components.WEB / name).read_text(encoding="utf-8") for name in components.RUNTIME_SCRIPTS)
    for function in ["lxRegisterPack", *components.MOUNTS.values()]:
        assert re.search(rf"^function {function}\(", scripts, re.M), f"{function} is not defined"
    # The component names that web/mount.js takes the mount from are the ones declared.
    assert set(components.MOUNTS) <= set(components.COMPONENTS)


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
