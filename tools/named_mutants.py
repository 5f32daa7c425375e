"""Apply, one at a time, the wiring bugs a mutation review found surviving the suite (issue 14), run the tests
that should catch each, and report killed / survived. Files are restored after every mutant (also on Ctrl-C).

    python tools/named_mutants.py            # every named mutant, ~2-4 min on 2 cores
    python tools/named_mutants.py --list     # what each mutant changes

A survivor means a realistic one-line bug goes unnoticed: add a test that fails on it. The broad, generated
counterpart is mutmut over whole modules (docs/testing.md).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "dgm"

# name -> (file under src/dgm, exact text, replacement, tests that must fail)
MUTANTS = {
    "D loss with real and fake swapped": (
        "models/gan/model.py", "self.objective.d_loss(out_r.logits, out_f.logits,",
        "self.objective.d_loss(out_f.logits, out_r.logits,", ["tests/models/gan"]),
    "G loss with the wrong sign": (
        "models/gan/model.py", 'terms = {"adv": self.objective.g_loss(out.logits),',
        'terms = {"adv": -self.objective.g_loss(out.logits),', ["tests/models/gan"]),
    "penalty weight not applied": (
        "models/gan/model.py", "terms[name] = weight * term.value(player, ctx)",
        "terms[name] = term.value(player, ctx)", ["tests/models/gan"]),
    "lazy regularisation not scaled by its interval": (
        "models/gan/parts.py", "return s.weight * s.every", "return s.weight", ["tests/models/gan"]),
    "R1 without its 1/2": (
        "models/gan/penalties.py", "return 0.5 * zero_centred_penalty(ctx.critic(ctx.labels), ctx.batch.x)",
        "return zero_centred_penalty(ctx.critic(ctx.labels), ctx.batch.x)", ["tests/models/gan"]),
    "spectral norm not applied to D": (
        "models/gan/model.py", "            spectral_normalize(self.critic)\n", "            pass\n",
        ["tests/models/gan"]),
    "WGAN clipping not applied after D's update": (
        "models/gan/penalties.py", 'if group == "discriminator":\n            self.apply()',
        'if False:\n            self.apply()', ["tests/models/gan"]),
    "flow log-det keeps only the last layer": (
        "models/flows/bijector.py", "ladj = ladj + l", "ladj = l", ["tests/models"]),
    "flow log_prob without the 8-bit correction": (
        "models/flows/model.py", "+ ladj - self.dims * math.log(256.0)", "+ ladj", ["tests/models", "tests/metrics"]),
    "VAE loss ignores beta": (
        "models/vae.py", "objective = (-rec + cfg.beta * kl).mean()", "objective = (-rec + kl).mean()",
        ["tests/models"]),
    "IWAE training loss is the ELBO": (
        "models/vae.py", "        if cfg.iwae_k > 1:\n            log_w", "        if False:\n            log_w",
        ["tests/models"]),
    "VAE elbo without the discrete correction": (
        "models/vae.py", "return bound + self.head.discrete_correction(self.dims)", "return bound",
        ["tests/models", "tests/metrics"]),
    "Inception Score averaged in the wrong place": (
        "metrics/inception_score.py",
        "kl = (part * (part.log() - marginal.log())).sum(1).mean()\n        scores.append(kl.exp())",
        "kl = (part * (part.log() - marginal.log())).sum(1)\n        scores.append(kl.exp().mean())",
        ["tests/metrics"]),
    "precision and recall swapped in the evaluation record": (
        "metrics/quality.py", 'out["pr"] = precision_recall(b, a)', 'out["pr"] = precision_recall(a, b)',
        ["tests/metrics"]),
    "precision/recall: fake radii used for precision": (
        "metrics/precision_recall.py", "in_real_balls[rows] = (d <= r_real[None, :])",
        "in_real_balls[rows] = (d <= r_fake[rows, None])", ["tests/metrics"]),
}


def run_tests(paths: list[str]) -> bool:
    """True when the tests pass (the mutant survives)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-m", "not slow", *paths]
    return subprocess.run(cmd, cwd=REPO, capture_output=True).returncode == 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true")
    p.add_argument("--only", help="substring of the mutant names to run")
    args = p.parse_args(argv)
    chosen = {k: v for k, v in MUTANTS.items() if not args.only or args.only in k}
    if args.list:
        for name, (file, old, new, tests) in chosen.items():
            print(f"{name}: {file}: {old.strip()!r} -> {new.strip()!r} ({' '.join(tests)})")
        return 0
    survived = []
    for name, (file, old, new, tests) in chosen.items():
        path = SRC / file
        original = path.read_text()
        if original.count(old) != 1:
            print(f"STALE  {name}: the text to mutate is not in {file} exactly once; update this list")
            survived.append(name)
            continue
        t0 = time.perf_counter()
        try:
            path.write_text(original.replace(old, new))
            alive = run_tests(tests)
        finally:
            path.write_text(original)
        print(f"{'SURVIVED' if alive else 'killed  '} {name} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if alive:
            survived.append(name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
