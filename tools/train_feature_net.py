"""Train a bundled feature network (the 28x28 domain classifier used for FID / IS) with a fixed seed.

    python tools/train_feature_net.py mnist-cnn --data-dir ../shared/data
    python tools/train_feature_net.py fashion-mnist-cnn --data-dir ../shared/data

Trains dgm.metrics.features.SmallCNN on the train split (random +-2 pixel shifts), reports test accuracy,
writes the weights (fp16 safetensors) into src/dgm/metrics/assets/ and appends a JSON record to
benchmarks/results/feature_nets.jsonl.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import dgm.data  # noqa: E402
from dgm.metrics.features import ASSETS, SmallCNN  # noqa: E402

DATASETS = {"mnist-cnn": ("mnist", 8), "fashion-mnist-cnn": ("fashion-mnist", 15)}


def random_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Shift each image by up to max_shift pixels (zero fill), vectorised: pad then crop per-sample offsets."""
    b, c, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=g)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None]).view(b, 1, h, 1).expand(b, c, h, w + 2 * max_shift)
    cropped = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(b, 1, 1, w).expand(b, c, h, w)
    return cropped.gather(3, cols)


@torch.no_grad()
def accuracy(net: SmallCNN, ds) -> float:
    net.eval()
    correct = sum(int((net(ds.data[i : i + 1000].float() / 255).argmax(1) == ds.labels[i : i + 1000]).sum())
                  for i in range(0, len(ds), 1000))
    return correct / len(ds)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=sorted(DATASETS))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dataset, epochs = DATASETS[args.name]
    epochs = args.epochs or epochs
    train = dgm.data.load(dataset, "train", data_dir=args.data_dir, download=False)
    test = dgm.data.load(dataset, "test", data_dir=args.data_dir, download=False)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    net = SmallCNN().to(memory_format=torch.channels_last)
    steps_per_epoch, bs = len(train) // 128, 128
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train), generator=g)
        for b in range(steps_per_epoch):
            idx = order[b * bs : (b + 1) * bs]
            x = random_shift(train.data[idx].float() / 255, g).contiguous(memory_format=torch.channels_last)
            # no label smoothing: the softmax must stay confident, or the Inception Score of real data drops
            loss = F.cross_entropy(net(x), train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, test accuracy {accuracy(net, test):.4f} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    acc = accuracy(net, test)
    ASSETS.mkdir(parents=True, exist_ok=True)
    out = ASSETS / f"{args.name}.safetensors"
    state = {k: v.contiguous().half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    save_file(state, str(out), metadata={"dataset": dataset, "test_accuracy": f"{acc:.4f}", "seed": str(args.seed)})
    net.load_state_dict({k: v.float() for k, v in state.items()})
    acc16 = accuracy(net, test)
    record = {"benchmark": "feature_nets", "metric": "test_accuracy", "name": args.name, "dataset": dataset,
              "value": round(acc16, 4), "value_fp32": round(acc, 4), "epochs": epochs, "seed": args.seed,
              "label_smoothing": 0.0,
              "train_s": round(time.perf_counter() - t0, 1), "threads": args.threads, "torch": str(torch.__version__),
              "artifacts": [str(out.relative_to(REPO))]}
    (REPO / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    with open(REPO / "benchmarks" / "results" / "feature_nets.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
