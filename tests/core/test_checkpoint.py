"""Checkpoints: round trip, atomic writes, and refusal of damaged, foreign or hostile files."""

from __future__ import annotations

import builtins
import io
import os
import shlex
from pathlib import Path

import pytest
import torch
from core_helpers import REPO_ROOT, small_config, state_dicts_equal

from vae_core import checkpoint as ckpt
from vae_core.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_bytes,
    checkpoint_dict,
    load_checkpoint,
    save_checkpoint,
)
from vae_core.models import VAE, Autoencoder, ModelPair
from vae_core.training import TrainConfig, new_model, train_model


@pytest.fixture(scope="module")
def pair(digits) -> ModelPair:
    from core_helpers import single_thread

    with single_thread():
        ae = new_model(small_config("ae", latent_dim=3, hidden_dim=16, code_activation="linear"), seed=1)
        vae = new_model(small_config("vae", latent_dim=2, hidden_dim=16), seed=2)
        config = TrainConfig(epochs=1, batch_size=256, device="cpu")
        histories = {name: [r.to_dict() for r in train_model(m, digits, config).history]
                     for name, m in (("ae", ae), ("vae", vae))}
    return ModelPair("digits", ae=ae, vae=vae, histories=histories,
                     train_settings={k: {**config.to_dict(), "dataset": "digits"} for k in ("ae", "vae")})


def _saved(content: dict, path: Path) -> Path:
    torch.save(content, path)
    return path


def _tampered(pair: ModelPair, path: Path, change) -> Path:
    content = checkpoint_dict(pair)
    change(content)
    return _saved(content, path)


# --- round trip -------------------------------------------------------------------------

def test_round_trip_keeps_everything(pair, tmp_path):
    path = save_checkpoint(pair, tmp_path / "sub" / "pair.pt")
    assert path == tmp_path / "sub" / "pair.pt" and path.is_file()
    loaded = load_checkpoint(path)
    assert loaded.dataset == "digits"
    assert isinstance(loaded.ae, Autoencoder) and isinstance(loaded.vae, VAE)
    for name in ("ae", "vae"):
        original, copy = getattr(pair, name), getattr(loaded, name)
        assert copy.config == original.config
        assert state_dicts_equal(copy.state_dict(), original.state_dict())
        assert not copy.training
    assert loaded.histories == pair.histories and len(loaded.histories["vae"]) == 1
    assert loaded.train_settings == pair.train_settings


def test_load_from_bytes_and_file_objects(pair):
    data = checkpoint_bytes(pair)
    for source in (data, bytearray(data), io.BytesIO(data)):
        loaded = load_checkpoint(source)
        assert state_dicts_equal(loaded.vae.state_dict(), pair.vae.state_dict())


def test_a_single_model_round_trips(pair, tmp_path):
    only_vae = ModelPair("digits", vae=pair.vae)
    loaded = load_checkpoint(save_checkpoint(only_vae, tmp_path / "v.pt"))
    assert loaded.ae is None and loaded.vae is not None
    assert loaded.histories == {"vae": []}


def test_file_holds_format_version_dataset_and_plain_data(pair, tmp_path):
    content = torch.load(save_checkpoint(pair, tmp_path / "c.pt"), weights_only=True)
    assert content["format"] == FORMAT_NAME and content["format_version"] == FORMAT_VERSION == 1
    assert content["dataset"] == "digits" and "created" in content
    assert content["models"]["vae"]["config"] == pair.vae.config.to_dict()


# --- atomic writes ------------------------------------------------------------------------

def _assert_only(folder: Path, names: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == names  # no temporary file left behind


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failed_save_leaves_the_previous_file_intact(pair, tmp_path, monkeypatch, failing):
    path = save_checkpoint(ModelPair("digits", vae=pair.vae), tmp_path / "model.pt")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if failing == "replace":
        monkeypatch.setattr(ckpt.os, "replace", boom)
    elif failing == "fsync":  # after the data was written to the temporary file
        monkeypatch.setattr(ckpt.os, "fsync", boom)
    else:
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, *args, **kwargs):
                self.f = real_fdopen(*args, **kwargs)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                raise OSError("disk full (simulated)")

        monkeypatch.setattr(ckpt.os, "fdopen", HalfWriter)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(pair, path)
    assert path.read_bytes() == before
    _assert_only(tmp_path, {"model.pt"})
    assert load_checkpoint(path).ae is None


def test_failed_serialisation_leaves_the_previous_file_intact(pair, tmp_path, monkeypatch):
    path = save_checkpoint(pair, tmp_path / "model.pt")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("serialisation failed (simulated)")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        save_checkpoint(pair, path)
    assert path.read_bytes() == before
    _assert_only(tmp_path, {"model.pt"})


def test_save_overwrites_an_existing_file(pair, tmp_path):
    path = save_checkpoint(ModelPair("digits", ae=pair.ae), tmp_path / "m.pt")
    save_checkpoint(pair, path)
    assert load_checkpoint(path).vae is not None
    _assert_only(tmp_path, {"m.pt"})


# --- refusals -----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_wrong_weight_shape(pair, tmp_path):
    def change(content):
        content["models"]["vae"]["state_dict"]["decoder.0.weight"] = torch.zeros(16, 5)

    with pytest.raises(CheckpointError, match=r"decoder\.0\.weight has shape \(16, 5\), expected \(16, 2\)"):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))


def test_config_disagreeing_with_weights(pair, tmp_path):
    def change(content):
        content["models"]["vae"]["config"]["latent_dim"] = 3
        content["models"]["ae"]["config"]["hidden_dim"] = 40

    with pytest.raises(CheckpointError, match="does not match its architecture"):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"]["vae"]["state_dict"].pop("encoder.1.bias"), "encoder.1.bias is missing"),
    (lambda c: c["models"]["vae"]["state_dict"].update(extra=torch.zeros(1)), "unexpected weight extra"),
    (lambda c: c["models"]["vae"]["state_dict"]["encoder.1.bias"].fill_(float("nan")), "non-finite"),
    (lambda c: c["models"]["vae"]["state_dict"].update(
        {"encoder.1.bias": torch.zeros(16, dtype=torch.int64)}), "non-float"),
    (lambda c: c["models"]["vae"]["state_dict"].update({"encoder.1.bias": [0.0] * 16}), "encoder.1.bias is missing"),
    (lambda c: c["models"]["vae"].pop("state_dict"), "lacks its config or weights"),
    (lambda c: c["models"].update(vae=[1, 2]), "lacks its config or weights"),
    (lambda c: c["models"]["vae"]["config"].update(kind="ae"), "declared as kind"),
    (lambda c: c["models"]["vae"]["config"].update(input_shape=[1, 28, 28]), "takes images of shape"),
    (lambda c: c["models"]["vae"]["config"].update(latent_dim=0), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(dropout=0.5), "invalid config"),
    (lambda c: c["models"].update(gan=c["models"]["vae"]), "must hold"),
    (lambda c: c.update(models={}), "must hold"),
    (lambda c: c.update(format_version=99), "format version 99"),
    (lambda c: c.pop("format_version"), "format version None"),
    (lambda c: c.update(dataset="cifar-10"), "unknown dataset 'cifar-10'"),
    (lambda c: c.update(format="something-else"), "not a Latent Explorer checkpoint"),
])
def test_inconsistent_contents_are_refused(pair, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))


@pytest.mark.parametrize("field, value", [("latent_dim", "2"), ("latent_dim", 2.0), ("hidden_dim", 16.5)])
def test_config_with_non_integer_sizes_is_a_checkpoint_error(pair, tmp_path, field, value):
    # Loading promises CheckpointError for every unusable file; such a config passes
    # ModelConfig's checks and then makes build_model raise a TypeError.
    def change(content):
        content["models"]["vae"]["config"][field] = value

    with pytest.raises(CheckpointError):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))


def test_non_checkpoint_dict_and_non_dict(tmp_path):
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(_saved({"a": 1, "weights": torch.zeros(3)}, tmp_path / "dict.pt"))
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(_saved([1, 2, 3], tmp_path / "list.pt"))
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(_saved(torch.zeros(2, 2), tmp_path / "tensor.pt"))


def test_truncated_file(pair, tmp_path):
    data = checkpoint_bytes(pair)
    for keep in (len(data) // 2, len(data) - 30, 10):
        path = tmp_path / f"cut{keep}.pt"
        path.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match="truncated"):
            load_checkpoint(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(b"")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)
    path.write_text("hello, I am a text file\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)


def test_zip_that_is_not_a_torch_file(tmp_path):
    import zipfile

    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_checkpoint(path)


def test_oversized_file_is_refused_before_reading(pair, tmp_path, monkeypatch):
    path = save_checkpoint(pair, tmp_path / "big.pt")
    size = path.stat().st_size

    def no_read(self, *args, **kwargs):
        raise AssertionError("an oversized file must not be read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    with pytest.raises(CheckpointError, match="at most"):
        load_checkpoint(path, max_bytes=size - 1)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match="larger than"):
        load_checkpoint(path.read_bytes(), max_bytes=size - 1)
    with pytest.raises(CheckpointError, match="larger than"):
        load_checkpoint(io.BytesIO(path.read_bytes()), max_bytes=100)
    assert load_checkpoint(path, max_bytes=size).vae is not None


def test_default_size_cap_is_64_mib():
    assert ckpt.MAX_CHECKPOINT_BYTES == 64 * 1024 * 1024


# --- hostile files ------------------------------------------------------------------------

class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


class _OpensFile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


@pytest.mark.parametrize("payload", [_RunsShell, _OpensFile])
@pytest.mark.parametrize("where", ["top", "inside"])
def test_malicious_pickle_is_refused_without_running_anything(pair, tmp_path, payload, where):
    # Prove the payload is live: an unsafe load does run it.
    proof = tmp_path / "proof"
    torch.save({"x": payload(proof)}, tmp_path / "proof.pt")
    torch.load(tmp_path / "proof.pt", weights_only=False)
    assert proof.exists()

    marker = tmp_path / "marker"
    if where == "top":
        content = payload(marker)
    else:
        content = checkpoint_dict(pair)
        content["models"]["vae"]["history"].append({"epoch": payload(marker)})
    path = _saved(content, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused without running anything"):
        load_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_checkpoint(path.read_bytes())
    assert not marker.exists()


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"]["vae"]["config"].update(hidden_dim=10 ** 9), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(latent_dim=10 ** 7), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(input_shape=[1, 100_000, 100_000]),
     "invalid config|takes images of shape"),
])
def test_gigantic_configs_are_refused_by_validation(pair, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))


@pytest.mark.parametrize("pair_fixture", ["pair", "conv_pair"])
def test_largest_allowed_config_is_checked_on_the_meta_device(pair_fixture, request, tmp_path, monkeypatch):
    # hidden 8192 x latent 512 passes ModelConfig; the shape check must not build real weights.
    pair = request.getfixturevalue(pair_fixture)
    built = []
    real_build = ckpt.build_model

    def recording_build(config):
        model = real_build(config)
        built.append((config.hidden_dim, {p.device.type for p in model.parameters()}))
        return model

    monkeypatch.setattr(ckpt, "build_model", recording_build)

    def change(content):
        content["models"]["vae"]["config"].update(hidden_dim=8192, latent_dim=512)

    with pytest.raises(CheckpointError, match="does not match its architecture"):
        load_checkpoint(_tampered(pair, tmp_path / "c.pt", change))
    assert built and all(devices == {"meta"} for hidden, devices in built if hidden == 8192)


# --- convolutional models and older files -----------------------------------------------------

@pytest.fixture(scope="module")
def conv_pair(digits) -> ModelPair:
    from core_helpers import single_thread

    with single_thread():
        models = {kind: new_model(small_config(kind, latent_dim=2, hidden_dim=16, architecture="conv",
                                               code_activation="linear"), seed=4) for kind in ("ae", "vae")}
        config = TrainConfig(epochs=1, batch_size=256, device="cpu")
        histories = {kind: [r.to_dict() for r in train_model(m, digits, config).history] for kind, m in models.items()}
    return ModelPair("digits", ae=models["ae"], vae=models["vae"], histories=histories,
                     train_settings={k: {**config.to_dict(), "dataset": "digits"} for k in models})


def test_conv_pair_round_trips_in_the_same_format(conv_pair, tmp_path):
    loaded = load_checkpoint(save_checkpoint(conv_pair, tmp_path / "conv.pt"))
    for name in ("ae", "vae"):
        original, copy = getattr(conv_pair, name), getattr(loaded, name)
        assert copy.config == original.config and copy.config.architecture == "conv"
        assert state_dicts_equal(copy.state_dict(), original.state_dict())
        x = torch.rand(3, 1, 8, 8)
        torch.testing.assert_close(copy.decode(torch.zeros(3, 2)), original.decode(torch.zeros(3, 2)))
        code = copy.encode(x)
        assert (code[0] if name == "vae" else code).shape == (3, 2)
    content = torch.load(tmp_path / "conv.pt", weights_only=True)
    assert content["format_version"] == FORMAT_VERSION == 1
    assert content["models"]["vae"]["config"]["architecture"] == "conv"


def test_a_checkpoint_from_before_architectures_loads_as_mlp(pair, tmp_path):
    def drop_architecture(content):
        for entry in content["models"].values():
            del entry["config"]["architecture"]

    loaded = load_checkpoint(_tampered(pair, tmp_path / "old.pt", drop_architecture))
    assert {m.config.architecture for m in loaded.models().values()} == {"mlp"}
    assert state_dicts_equal(loaded.vae.state_dict(), pair.vae.state_dict())
    for shipped in (REPO_ROOT / "latent_explorer" / "assets").glob("*-latent2.pt"):  # written before the field existed
        raw = torch.load(shipped, weights_only=True)
        if all("architecture" not in m["config"] for m in raw["models"].values()):
            assert {m.config.architecture for m in load_checkpoint(shipped).models().values()} == {"mlp"}


@pytest.mark.parametrize("change, message", [
    # conv weights under an MLP's name, and the reverse: every shape is checked against the declared architecture
    (lambda c: c["models"]["vae"]["config"].update(architecture="mlp"), "does not match its architecture"),
    (lambda c: c["models"]["vae"]["state_dict"].update({"encoder.0.weight": torch.zeros(32, 1, 3, 3)}),
     r"encoder\.0\.weight has shape \(32, 1, 3, 3\), expected \(32, 1, 4, 4\)"),
    (lambda c: c["models"]["vae"]["state_dict"].pop("decoder.5.weight"), r"decoder\.5\.weight is missing"),
    (lambda c: c["models"]["vae"]["config"].update(architecture="resnet"), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(architecture=["conv"]), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(input_shape=[1, 3, 3]), "invalid config"),
    (lambda c: c["models"]["vae"]["config"].update(input_shape=[4096, 4096, 4096]), "takes images of shape"),
])
def test_hostile_or_broken_conv_entries_are_refused(conv_pair, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_tampered(conv_pair, tmp_path / "c.pt", change))


def test_loading_draws_no_random_numbers(conv_pair, pair):
    state = torch.random.get_rng_state()
    for source in (conv_pair, pair):
        load_checkpoint(checkpoint_bytes(source))
    assert torch.equal(torch.random.get_rng_state(), state)
