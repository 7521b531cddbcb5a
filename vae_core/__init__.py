"""vae_core: the autoencoder / VAE engine behind Latent Explorer, usable without Streamlit."""

from .checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, save_checkpoint
from .data import DATASETS, DatasetUnavailable, ImageDataset, dataset_title, is_available, load_dataset
from .download import DownloadProgress, download_dataset, mirrors_reachable
from .image_sources import ConversionOptions, ImageLimits, ImageSourceError, load_image_source, preview
from .losses import importance_weighted_log_px, kl_divergence, kl_per_dimension, negative_elbo, reconstruction_nll
from .models import VAE, Autoencoder, ModelConfig, ModelPair, build_model, reparameterize
from .training import (
                     EpochReport,
                     TrainConfig,
                     TrainingDiverged,
                     TrainResult,
                     available_devices,
                     evaluate,
                     new_model,
                     resolve_device,
                     train_model,
)

__all__ = [
    "Autoencoder", "VAE", "ModelConfig", "ModelPair", "build_model", "reparameterize",
    "reconstruction_nll", "kl_per_dimension", "kl_divergence", "negative_elbo", "importance_weighted_log_px",
    "DATASETS", "DatasetUnavailable", "ImageDataset", "load_dataset", "is_available", "dataset_title",
    "DownloadProgress", "download_dataset", "mirrors_reachable",
    "ConversionOptions", "ImageLimits", "ImageSourceError", "load_image_source", "preview",
    "TrainConfig", "EpochReport", "TrainResult", "TrainingDiverged", "available_devices", "resolve_device",
    "evaluate", "new_model", "train_model",
    "CheckpointError", "checkpoint_bytes", "load_checkpoint", "save_checkpoint",
]
