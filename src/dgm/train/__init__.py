"""The one training loop, its checkpoints and its callbacks."""
from .checkpoint import Checkpoint, find_checkpoint, read_checkpoint
from .config import TrainConfig
from .trainer import Trainer, load_weights, seed_everything

__all__ = ["Checkpoint", "TrainConfig", "Trainer", "find_checkpoint", "load_weights", "read_checkpoint",
           "seed_everything"]
