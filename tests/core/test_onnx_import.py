"""A VAE trained elsewhere, imported through ONNX: exported from torch, it gives the torch model's numbers through
the engine (codes, decodes, ELBO, log p(x), diagnose), survives checkpoints and the model store, and every file
that fails a check is refused with its own message, leaving nothing behind."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, external_data_helper, helper
from torch import nn

from latent_explorer.pack import browser_decodes
from vae_core.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from vae_core.cli import main
from vae_core.diagnostics import diagnose, log_px_per_image
from vae_core.losses import importance_weighted_log_px
from vae_core.models import ModelPair
from vae_core.onnx_import import MAX_MB_ENV, MAX_MS_ENV, OnnxModelError
from vae_core.onnx_pairs import import_onnx_pair
from vae_core.portable import portable_decoder, run_portable_decoder
from vae_core.store import ModelStore
from vae_core.training import EpochTrainer, TrainConfig, evaluate
from vae_core.workspace import Workspace

DIGITS_SHAPE = (1, 8, 8)
CONV_LATENT = 3


def _onnx_bytes(module: nn.Module, example: torch.Tensor, input_name: str, output_names: list[str]) -> bytes:
    """torch's own exporter (the default, torch.export-based one), with a symbolic batch dimension."""
    program = torch.onnx.export(module.eval(), (example,), input_names=[input_name], output_names=output_names,
                                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    return program.model_proto.SerializeToString()


class _Call(nn.Module):
    """One method of a model as a module's forward, so that it exports as a graph of its own."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, values):
        return self.method(values)


class TinyConvVAE(nn.Module):
    """Not one of ours: a strided convolution to a Gaussian's mean and standard deviation, and a transposed
    convolution back up to Gaussian pixel means through a sigmoid."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.mean = nn.Linear(4 * 4 * 4, CONV_LATENT)
        self.scale = nn.Linear(4 * 4 * 4, CONV_LATENT)
        self.expand = nn.Sequential(nn.Linear(CONV_LATENT, 4 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (4, 4, 4)),
                                    nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def encode(self, x):
        h = self.features(x)
        return self.mean(h), F.softplus(self.scale(h)) + 0.05

    def means(self, z):
        return self.expand(z)


@pytest.fixture(scope="module")
def mlp_files(trained_vae):
    """Our own MLP VAE (digits, latent 8) as an encoder to mu and log-variance and a decoder to logits."""
    encoder = _onnx_bytes(_Call(trained_vae.encode), torch.rand(2, *DIGITS_SHAPE), "images", ["mu", "logvar"])
    decoder = _onnx_bytes(_Call(trained_vae.decode_logits), torch.randn(2, 8), "z", ["logits"])
    return encoder, decoder


@pytest.fixture(scope="module")
def conv_model():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TinyConvVAE().eval()


@pytest.fixture(scope="module")
def conv_files(conv_model):
    encoder = _onnx_bytes(_Call(conv_model.encode), torch.rand(2, *DIGITS_SHAPE), "pixels", ["mean", "std"])
    decoder = _onnx_bytes(_Call(conv_model.means), torch.randn(2, CONV_LATENT), "code", ["pixel_means"])
    return encoder, decoder


@pytest.fixture(scope="module")
def mlp_pair(mlp_files):
    return import_onnx_pair(*mlp_files, "digits", "bernoulli")


@pytest.fixture(scope="module")
def conv_pair(conv_files):
    return import_onnx_pair(*conv_files, "digits", "gaussian", encoder_outputs=("mean", "std"), encoder_scale="sigma")


@pytest.fixture(scope="module")
def images(digits):
    return digits.images("test")[:40]


# --- the numbers of the torch models ------------------------------------------------------------

def test_our_vae_imported_gives_its_codes_and_decodes(trained_vae, mlp_pair, images):
    imported = mlp_pair.vae
    assert imported.config.foreign and imported.config.architecture == "onnx"
    assert (imported.config.latent_dim, imported.config.input_shape, imported.config.likelihood) == (8, (1, 8, 8),
                                                                                                     "bernoulli")
    assert mlp_pair.train_settings["vae"]["loss"] == "bce"
    with torch.no_grad():
        expected_mu, expected_logvar = trained_vae.encode(images)
        mu, logvar = imported.encode(images)
        z = torch.randn(25, 8, generator=torch.Generator().manual_seed(3)) * 2
        expected_images = trained_vae.decode(z)
        decoded = imported.decode(z)
    torch.testing.assert_close(mu, expected_mu, atol=1e-5, rtol=0)
    torch.testing.assert_close(logvar, expected_logvar, atol=1e-5, rtol=0)
    assert decoded.shape == (25, *DIGITS_SHAPE)
    torch.testing.assert_close(decoded, expected_images, atol=1e-5, rtol=0)
    assert expected_mu.std() > 0.1 and expected_images.std() > 0.01  # a trained model: the numbers mean something


def test_our_vae_imported_has_its_elbo_and_log_px(trained_vae, mlp_pair, images):
    expected, got = evaluate(trained_vae, images, "bce"), evaluate(mlp_pair.vae, images, "bce")
    for figure in ("reconstruction", "kl", "loss"):
        assert got[figure] == pytest.approx(expected[figure], rel=1e-5)
    expected_log_px = log_px_per_image(trained_vae, images, "bce", samples=16)
    log_px = log_px_per_image(mlp_pair.vae, images, "bce", samples=16)
    np.testing.assert_allclose(log_px, expected_log_px, rtol=1e-5)


def test_a_conv_vae_of_another_design_with_sigma_and_gaussian_pixels(conv_model, conv_pair, images):
    imported = conv_pair.vae
    assert (imported.config.latent_dim, imported.config.likelihood, imported.config.encoder_scale) == (
        CONV_LATENT, "gaussian", "sigma")
    assert conv_pair.train_settings["vae"]["loss"] == "mse"
    with torch.no_grad():
        expected_mu, expected_sigma = conv_model.encode(images)
        mu, logvar = imported.encode(images)
        z = torch.randn(12, CONV_LATENT, generator=torch.Generator().manual_seed(5)) * 2
        expected_means = conv_model.means(z)
        means = imported.decode(z)
    torch.testing.assert_close(mu, expected_mu, atol=1e-5, rtol=0)
    torch.testing.assert_close(logvar, 2 * torch.log(expected_sigma), atol=1e-5, rtol=0)
    torch.testing.assert_close(means, expected_means, atol=1e-5, rtol=0)


def _reference_gaussian_terms(model: TinyConvVAE, x: torch.Tensor, eps: torch.Tensor):
    """log p(x|z) under Gaussian pixels of variance 1/2, with log p(z) and log q(z|x), for z = mu + sigma eps; from
    the torch model and the densities' definitions."""
    mu, sigma = model.encode(x)
    z = mu + sigma * eps
    pixels = x[0].numel()
    log_px_given_z = -((x - model.means(z)) ** 2).flatten(1).sum(1) - 0.5 * pixels * math.log(math.pi)
    log_pz = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(1)
    log_qz = (-0.5 * eps ** 2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(1)
    kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma)).sum(1)
    return log_px_given_z, log_pz, log_qz, kl


@torch.no_grad()
def test_the_conv_vae_imported_has_the_elbo_and_log_px_of_its_definition(conv_model, conv_pair, images):
    # evaluate() draws one eps per image from a generator seeded 0, as the reference does here.
    eps = torch.randn((len(images), CONV_LATENT), generator=torch.Generator().manual_seed(0))
    log_px_given_z, _, _, kl = _reference_gaussian_terms(conv_model, images, eps)
    expected_elbo = (log_px_given_z - kl).mean().item()
    assert -evaluate(conv_pair.vae, images, "mse")["loss"] == pytest.approx(expected_elbo, rel=1e-5)

    samples, generator = 8, torch.Generator().manual_seed(1)
    log_weights = []
    for _ in range(samples):  # the estimator's draws, one eps per image and sample, in its order
        eps = torch.randn((len(images), CONV_LATENT), generator=generator)
        log_px_given_z, log_pz, log_qz, _ = _reference_gaussian_terms(conv_model, images, eps)
        log_weights.append(log_px_given_z + log_pz - log_qz)
    expected_log_px = torch.logsumexp(torch.stack(log_weights), 0) - math.log(samples)
    log_px = importance_weighted_log_px(conv_pair.vae, images, samples, "mse", torch.Generator().manual_seed(1))
    torch.testing.assert_close(log_px, expected_log_px, rtol=1e-5, atol=1e-4)


def test_a_workspace_explores_it_and_the_server_decodes_it(trained_vae, mlp_pair, digits):
    workspace = Workspace(mlp_pair, digits, "imported")
    assert workspace.latent_dim() == 8 and workspace.loss() == "bce"
    assert workspace.encodings["vae"].logvar.shape == (len(digits.test_labels), 8)
    assert workspace.decode(np.zeros(8)).shape == (1, 8, 8)
    summary = workspace.summary("vae")
    assert summary.kl > 0 and summary.elbo < 0 and summary.active_units >= 1
    assert browser_decodes(workspace, "vae")


@pytest.mark.parametrize("pair_name", ["mlp_pair", "conv_pair"])
def test_a_decoder_of_portable_operations_runs_in_the_browser_as_onnxruntime_does(request, pair_name):
    imported = request.getfixturevalue(pair_name).vae
    decoder = portable_decoder(imported)
    assert decoder is not None
    ops = [layer.op for layer in decoder.layers]
    assert ops == (["linear", "relu", "linear"] if pair_name == "mlp_pair"
                   else ["linear", "relu", "reshape", "conv_transpose2d"]), ops
    z = np.random.default_rng(7).standard_normal((16, imported.config.latent_dim)).astype(np.float32) * 2
    with torch.no_grad():
        expected = imported.decode(torch.as_tensor(z)).numpy()  # onnxruntime's decode
    np.testing.assert_allclose(run_portable_decoder(decoder, z), expected, atol=1e-5, rtol=0)


def test_a_decoder_with_another_operation_is_decoded_on_the_server(mlp_files, digits):
    tanh = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 64))  # tanh: not a portable operation
    pair = import_onnx_pair(mlp_files[0], _onnx_bytes(tanh, torch.randn(2, 8), "z", ["logits"]), "digits",
                            "bernoulli")
    assert portable_decoder(pair.vae) is None
    assert not browser_decodes(Workspace(pair, digits, "tanh"), "vae")


def test_an_imported_model_cannot_be_trained(mlp_pair, digits):
    images = digits.images("train")
    with pytest.raises(ValueError, match="cannot be trained"):
        EpochTrainer(mlp_pair.vae, images, images, TrainConfig(epochs=1, device="cpu"))


def test_a_fixed_batch_dimension_runs_in_chunks(digits):
    weights = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32) * 0.1
    encoder = _linear_encoder(batch=3, mean_weights=weights)
    pair = import_onnx_pair(encoder, _linear_decoder(batch=3), "digits", "bernoulli")
    x = digits.images("test")[:10]  # three chunks of 3, and one of 1 filled up to 3
    mu, logvar = pair.vae.encode(x)
    np.testing.assert_allclose(mu.numpy(), x.flatten(1).numpy() @ weights, atol=1e-6)
    assert logvar.shape == (10, 4) and pair.vae.decode(mu).shape == (10, 1, 8, 8)


# --- checkpoints and the store ------------------------------------------------------------------

def _same_numbers(a: ModelPair, b: ModelPair, images: torch.Tensor) -> None:
    with torch.no_grad():
        for got, expected in zip(a.vae.encode(images), b.vae.encode(images)):
            torch.testing.assert_close(got, expected, atol=0, rtol=0)
        z = torch.randn(6, a.vae.config.latent_dim, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(a.vae.decode(z), b.vae.decode(z), atol=0, rtol=0)
    assert evaluate(a.vae, images, a.train_settings["vae"]["loss"]) == evaluate(b.vae, images,
                                                                                 b.train_settings["vae"]["loss"])


@pytest.mark.parametrize("which", ["mlp", "conv"])
def test_a_checkpoint_carries_the_files_and_gives_the_same_numbers(which, mlp_pair, conv_pair, images):
    pair = {"mlp": mlp_pair, "conv": conv_pair}[which]
    data = checkpoint_bytes(pair)
    content = torch.load(io.BytesIO(data), weights_only=True)
    assert content["format_version"] == 2 and content["dataset"] == "digits"
    entry = content["models"]["vae"]
    assert "state_dict" not in entry and entry["config"] == pair.vae.config.to_dict()
    assert entry["onnx"]["encoder"].numpy().tobytes() == pair.vae.encoder_onnx
    loaded = load_checkpoint(data)
    assert loaded.vae.config == pair.vae.config and loaded.ae is None
    assert loaded.train_settings == pair.train_settings
    _same_numbers(loaded, pair, images)


def test_loading_checks_the_files_again(mlp_files, mlp_pair):
    content = torch.load(io.BytesIO(checkpoint_bytes(mlp_pair)), weights_only=True)
    content["models"]["vae"]["onnx"]["encoder"] = torch.frombuffer(bytearray(_linear_encoder(domain="com.example")),
                                                                   dtype=torch.uint8)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    with pytest.raises(CheckpointError, match="imported from ONNX, was refused: the encoder uses operators outside"):
        load_checkpoint(buffer.getvalue())


def test_a_version_1_checkpoint_cannot_smuggle_an_imported_model(mlp_pair):
    content = torch.load(io.BytesIO(checkpoint_bytes(mlp_pair)), weights_only=True)
    content["format_version"] = 1
    buffer = io.BytesIO()
    torch.save(content, buffer)
    with pytest.raises(CheckpointError, match="lacks its config or weights"):
        load_checkpoint(buffer.getvalue())


def test_the_store_keeps_it_and_its_link_opens_it(mlp_pair, images, tmp_path):
    store = ModelStore(tmp_path / "store")
    model_id = store.put(mlp_pair, "imported", owner_token="someone")
    opened = ModelStore(tmp_path / "store").open(model_id)  # another server process, from the link's id
    assert opened.entry.dataset == "digits" and opened.dataset is None
    assert opened.pair.vae.config == mlp_pair.vae.config
    _same_numbers(opened.pair, mlp_pair, images)


# --- the command line -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp_paths(mlp_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    (folder / "encoder.onnx").write_bytes(mlp_files[0])
    (folder / "decoder.onnx").write_bytes(mlp_files[1])
    return folder / "encoder.onnx", folder / "decoder.onnx"


def test_the_cli_writes_a_checkpoint_that_diagnose_reads(mlp_paths, trained_vae, digits, tmp_path, capsys):
    out = tmp_path / "pair.pt"
    assert main(["import-onnx", *map(str, mlp_paths), "--likelihood", "bernoulli", "--dataset", "digits",
                 "--out", str(out)]) == 0
    assert "latent size 8" in capsys.readouterr().err
    assert load_checkpoint(out).vae.config.latent_dim == 8
    assert main(["diagnose", str(out), "--json", "--samples", "5", "--limit", "60"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = diagnose(trained_vae, digits.images("test")[:60], "bce", samples=5).to_dict()
    assert report.keys() == expected.keys() and report["active_units"] == expected["active_units"]
    np.testing.assert_allclose(report["kl_per_dimension"], expected["kl_per_dimension"], rtol=1e-5)
    for figure in ("elbo", "log_px", "prior_hole_fraction"):
        assert report[figure] == pytest.approx(expected[figure], rel=1e-5, abs=1e-6)
    assert main(["evaluate", str(out), "--json", "--samples", "5", "--limit", "60"]) == 0
    assert json.loads(capsys.readouterr().out)["vae"]["elbo"] == pytest.approx(expected["elbo"], rel=1e-5)


def test_the_cli_keeps_it_in_the_store_and_prints_its_id(mlp_paths, mlp_pair, images, tmp_path, capsys):
    assert main(["import-onnx", *map(str, mlp_paths), "--likelihood", "bernoulli", "--dataset", "digits",
                 "--store", str(tmp_path / "store"), "--label", "my VAE"]) == 0
    model_id = capsys.readouterr().out.strip()
    opened = ModelStore(tmp_path / "store").open(model_id)
    assert opened.entry.label == "my VAE"
    _same_numbers(opened.pair, mlp_pair, images)


def test_the_cli_takes_sigma_outputs_and_gaussian_pixels(conv_files, conv_pair, images, tmp_path, capsys):
    for role, data in zip(("encoder", "decoder"), conv_files):
        (tmp_path / f"{role}.onnx").write_bytes(data)
    out = tmp_path / "conv.pt"
    assert main(["import-onnx", str(tmp_path / "encoder.onnx"), str(tmp_path / "decoder.onnx"), "--likelihood",
                 "gaussian", "--dataset", "digits", "--sigma-outputs", "mean,std", "--out", str(out)]) == 0
    loaded = load_checkpoint(out)
    assert loaded.vae.config == conv_pair.vae.config and loaded.vae.config.encoder_scale == "sigma"
    _same_numbers(loaded, conv_pair, images)


# --- refusals -----------------------------------------------------------------------------------

def _model_bytes(nodes, inputs, outputs, initializers=(), domains=(("", 17),)) -> bytes:
    graph = helper.make_graph(nodes, "graph", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domains])
    model.ir_version = 8
    return model.SerializeToString()


def _linear_encoder(side: int = 8, latent: int = 4, batch: int | str = "N", extra_input: bool = False,
                    domain: str = "", mean_weights: np.ndarray | None = None) -> bytes:
    """Images batch×1×side×side to mu = flat @ W and logvar = flat @ V, written node by node; ``domain`` puts the
    mean's matrix product in another operator domain."""
    rng = np.random.default_rng(1)
    if mean_weights is None:
        mean_weights = rng.standard_normal((side * side, latent)).astype(np.float32) * 0.1
    scale_weights = rng.standard_normal((side * side, latent)).astype(np.float32) * 0.1
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, side, side])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 1]))
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, latent]) for name in ("mu", "logvar")]
    mean_product = (helper.make_node("MatMul", ["flat", "W"], ["mu"]) if not domain
                    else helper.make_node("Mystery", ["flat", "W"], ["mu"], domain=domain))
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1), mean_product,
             helper.make_node("MatMul", ["flat", "V"], ["logvar"])]
    weights = [onnx.numpy_helper.from_array(mean_weights, "W"), onnx.numpy_helper.from_array(scale_weights, "V")]
    return _model_bytes(nodes, inputs, outputs, weights, (("", 17),) + (((domain, 1),) if domain else ()))


def _linear_decoder(latent: int = 4, out_shape: tuple[int, ...] = (1, 8, 8), batch: int | str = "N",
                    scale: float = 0.1, external: bool = False) -> bytes:
    """Codes batch×latent to z @ W, reshaped to batch×out_shape; ``external`` points W at a file on the server."""
    weights = np.random.default_rng(2).standard_normal((latent, math.prod(out_shape))).astype(np.float32) * scale
    matrix = onnx.numpy_helper.from_array(weights, "W")
    if external:
        external_data_helper.set_external_data(matrix, location="../../etc/passwd")
        matrix.ClearField("raw_data")
    shape = onnx.numpy_helper.from_array(np.array([-1, *out_shape], dtype=np.int64), "shape")
    nodes = [helper.make_node("MatMul", ["z", "W"], ["flat"]), helper.make_node("Reshape", ["flat", "shape"], ["y"])]
    return _model_bytes(nodes, [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, latent])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, *out_shape])],
                        [matrix, shape])


def _unchecked_encoder() -> bytes:
    """An encoder whose nodes read a value that nothing defines: onnx.checker refuses it."""
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])
    codes = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 4]) for name in ("mu", "logvar")]
    nodes = [helper.make_node("Relu", ["undefined"], [name]) for name in ("mu", "logvar")]
    return _model_bytes(nodes, [image], codes)


# Each refusal: its encoder and decoder files, its extra arguments and environment, and what its message says.
REFUSALS = {
    "unparseable": (lambda: (b"this is not an ONNX file", _linear_decoder()), [], {},
                    "the encoder file is not an ONNX model"),
    "invalid graph": (lambda: (_unchecked_encoder(), _linear_decoder()), [], {},
                      "the encoder file fails ONNX's own validity check (onnx.checker: "),
    "custom domain": (lambda: (_linear_encoder(domain="com.example"), _linear_decoder()), [], {},
                      "the encoder uses operators outside the standard ONNX set ('Mystery' of the domain "
                      "'com.example')"),
    "two inputs": (lambda: (_linear_encoder(extra_input=True), _linear_decoder()), [], {},
                   "the encoder must take exactly one input, images N×C×H×W; it takes 2 ('x', 'y')"),
    "missing output": (lambda: (_linear_encoder(), _linear_decoder()), ["--encoder-outputs", "mu,log_sigma2"], {},
                       "the encoder has no output named 'log_sigma2' (its outputs: 'mu', 'logvar')"),
    "latent sizes": (lambda: (_linear_encoder(latent=4), _linear_decoder(latent=6)), [], {},
                     "the latent sizes differ: the encoder gives 4-d codes (output 'mu'), but the decoder takes 6-d"),
    "encoder image shape": (lambda: (_linear_encoder(side=28), _linear_decoder()), [], {},
                            "the encoder's input 'x' takes images N×1×28×28, but the images of digits are N×1×8×8"),
    "decoder image shape": (lambda: (_linear_encoder(), _linear_decoder(out_shape=(28, 28))), [], {},
                            "the decoder's output 'y' is 28×28 = 784 values per code, which is not an image of "
                            "digits"),
    "external weights": (lambda: (_linear_encoder(), _linear_decoder(external=True)), [], {},
                         "the decoder keeps its weights in a separate file"),
    "gaussian means out of range": (lambda: (_linear_encoder(), _linear_decoder(scale=5.0)),
                                    ["--likelihood", "gaussian"], {}, "outside the images' range [0, 1]"),
    "size": (lambda: (_linear_encoder(), _linear_decoder()), [], {MAX_MB_ENV: "0.001"},
             "an ONNX file may be at most 1,048 bytes"),
    "time": (lambda: (_linear_encoder(), _linear_decoder()), [], {MAX_MS_ENV: "0.000001"},
             "the encoder is too slow: "),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_import_says_why_and_keeps_nothing(case, tmp_path, monkeypatch, capsys):
    files, arguments, environment, message = REFUSALS[case]
    encoder_path, decoder_path = tmp_path / "encoder.onnx", tmp_path / "decoder.onnx"
    for path, data in zip((encoder_path, decoder_path), files()):
        path.write_bytes(data)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    store = ModelStore(tmp_path / "store")
    command = ["import-onnx", str(encoder_path), str(decoder_path), "--likelihood", "bernoulli",
               "--dataset", "digits", *arguments]
    for destination in (["--out", str(tmp_path / "pair.pt")], ["--store", store.url]):
        assert main([*command, *destination]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error
        others = [other[3] for name, other in REFUSALS.items() if name != case]
        assert not any(other in error for other in others)  # its own message, not another check's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder.onnx", "encoder.onnx", "store"]
    assert store.entries() == [] and not any(store.fs.find(store.root))


def test_the_library_raises_its_own_error_type(mlp_files):
    with pytest.raises(OnnxModelError, match="likelihood must be one of bernoulli, gaussian"):
        import_onnx_pair(*mlp_files, "digits", "poisson")
    with pytest.raises(OnnxModelError, match="the decoder file is empty"):
        import_onnx_pair(mlp_files[0], b"", "digits", "bernoulli")


def test_a_file_of_a_gigabyte_is_refused_before_it_is_read(mlp_files, tmp_path):
    huge = tmp_path / "huge.onnx"
    with huge.open("wb") as file:
        file.truncate(2**30)  # sparse: a 1 GB initializer's size, without writing it
    (tmp_path / "decoder.onnx").write_bytes(mlp_files[1])
    out = tmp_path / "pair.pt"
    with pytest.raises(OnnxModelError, match=r"the encoder file is too large: 1024\.0 MiB"):
        import_onnx_pair(huge, tmp_path / "decoder.onnx", "digits", "bernoulli")
    assert main(["import-onnx", str(huge), str(tmp_path / "decoder.onnx"), "--likelihood", "bernoulli",
                 "--dataset", "digits", "--out", str(out)]) == 2
    assert not out.exists()
