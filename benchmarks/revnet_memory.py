"""RevNet memory and speed (issue 19): an i-RevNet stage (2x2 squeeze, then DEPTH RevBlocks of 3x3 convs, 64 hidden
channels) on batches of 64 MNIST images, trained with the memory-saving backward (activations rebuilt from
outputs) against the same network and weights with ordinary autograd, at depths 4, 8 and 16.

Memory is the activation memory held for backward: the bytes of every tensor autograd saves during the forward
pass (counted exactly by ``torch.autograd.graph.saved_tensors_hooks``; weights and their gradients, the same for
both, are not counted). Speed is training samples/s (forward, backward, no optimiser) over ``--seconds`` per
setting after a warm-up, on 2 threads. Both also check the gradients agree (max relative difference).

    PYTHONPATH=src python3 benchmarks/revnet_memory.py
    PYTHONPATH=src python3 benchmarks/revnet_memory.py --seconds 1 --no-record   # smoke test
"""
from __future__ import annotations

import argparse
import sys
import time

import common  # first: puts src/ on sys.path when needed
import torch

import dgm.data
from dgm.models.flows import i_revnet
from dgm.models.flows.reversible import held_for_backward

DEPTHS = (4, 8, 16)


def speed(net, x, seconds: float) -> float:
    def step():
        net(x)[0].square().mean().backward()

    step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n * len(x) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args(argv)
    threads, load_start, data_dir = common.begin(args.threads)
    mnist = dgm.data.load("mnist", split="train", data_dir=data_dir, download=False)
    x = (mnist.data[:64].float() / 255).requires_grad_(True)
    rows = []
    for depth in DEPTHS:
        torch.manual_seed(0)
        saving = i_revnet(1, (depth,), 64, memory_saving=True)
        plain = i_revnet(1, (depth,), 64, memory_saving=False)
        plain.load_state_dict(saving.state_dict())
        grads = []
        for net in (saving, plain):
            net.zero_grad()
            net(x)[0].square().mean().backward()
            grads.append(torch.cat([q.grad.flatten() for q in net.parameters()]))
        rel = float((grads[0] - grads[1]).abs().max() / grads[1].abs().max())
        rows.append({"depth": depth, "held_bytes_saving": held_for_backward(lambda: saving(x)),
                     "held_bytes_autograd": held_for_backward(lambda: plain(x)),
                     "samples_per_s_saving": round(speed(saving, x, args.seconds), 1),
                     "samples_per_s_autograd": round(speed(plain, x, args.seconds), 1), "grad_max_rel_diff": rel})
        print(rows[-1], file=sys.stderr, flush=True)
    deepest = rows[-1]
    record = {"benchmark": "revnet_memory", "metric": "held_memory_ratio_autograd_over_saving_depth16",
              "value": round(deepest["held_bytes_autograd"] / deepest["held_bytes_saving"], 2),
              "variant": "i-RevNet stage, 64 hidden, batch 64 MNIST, fp32", "rows": rows,
              "memory_measure": "bytes of tensors autograd saves for backward (saved_tensors_hooks)",
              "target": "memory-saving activation memory flat in depth; speed cost reported",
              "command": "PYTHONPATH=src python3 benchmarks/revnet_memory.py", "seconds_per_setting": args.seconds,
              "threads": threads, "load_avg_start": load_start,
              "full_setting": args.seconds >= 20.0}
    common.emit(record, "revnet_memory", save=not args.no_record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
