"""Mutation scores of the mathematical modules with mutmut (the `mutation` extra: pip install -e ".[mutation]"):
each module is mutated line by line and the tests that cover it run against every mutant; a mutant that
passes them survives. Prints one line per module and, for each survivor, mutmut's diff.

    python tools/mutation_score.py                       # every module below (tens of minutes on 2 cores)
    python tools/mutation_score.py --only vae            # modules whose path contains "vae"
    python tools/mutation_score.py --only flows/         # every flow module
    python tools/mutation_score.py --json scores.json    # also write the table

Equivalent mutants (a change no test can observe, e.g. a clamp bound that is never reached) are listed in
docs/testing.md with the reason; every other survivor is a missing test.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTEST = f"{sys.executable} -m pytest -x -q -p no:randomly -m 'not slow' -p no:cacheprovider"

FLOW_FILES = ("tests/models/flows/test_bijector_contract.py tests/models/flows/test_flow_likelihood.py "
              "tests/models/test_bound_contracts.py")
FLOW_TESTS = FLOW_FILES + " -k 'not vae and not VAE and not iwae and not reinitialised'"  # (the last: 4 s, actnorm's)
# module -> the tests that should kill its mutants (kept small: one pytest run per mutant)
MODULES = {
    "src/dgm/models/vae.py": "tests/models/test_bound_contracts.py tests/models/test_vae_math.py "
                             "-k 'not flow and not autoregressive'",
    "src/dgm/models/flows/bijector.py": "tests/models/flows/test_bijector_contract.py "
                                        "tests/models/test_bound_contracts.py",
    "src/dgm/models/gan/objectives.py": "tests/models/gan/test_gan_objectives.py tests/models/gan/test_gan_contract.py",
    "src/dgm/models/gan/penalties.py": "tests/models/gan/test_gan_penalties.py tests/models/gan/test_gan_contract.py",
    "src/dgm/metrics/inception_score.py": "tests/metrics/test_metrics_by_hand.py tests/metrics/test_quality_math.py",
    "src/dgm/metrics/precision_recall.py": "tests/metrics/test_metrics_by_hand.py tests/metrics/test_quality_math.py",
    "src/dgm/models/flows/coupling.py": FLOW_TESTS,
    "src/dgm/models/flows/invconv.py": FLOW_TESTS,
    "src/dgm/models/flows/normalization.py": FLOW_FILES + " -k 'not vae and not VAE and not iwae'",
    "src/dgm/models/flows/preprocess.py": FLOW_TESTS,
    "src/dgm/models/gan/regularisers.py": "tests/models/gan/test_gan_layers.py tests/models/gan/test_gan_contract.py",
    "src/dgm/metrics/likelihood.py": "tests/metrics/test_likelihood.py",
    "src/dgm/metrics/fid.py": "tests/metrics/test_quality_math.py tests/metrics/test_metrics_by_hand.py",
    "src/dgm/metrics/kid.py": "tests/metrics/test_quality_math.py tests/metrics/test_metrics_by_hand.py",
    "src/dgm/train/schedule.py": "tests/train/test_schedule.py",
    "src/dgm/train/ema.py": "tests/train/test_resume.py -k ema",
}
# mutation types scored: operators, numbers, names, keywords, arguments, boolean tests (not the strings of
# messages and record keys, whose consumers' tests cover them)
DISABLED = "string,fstring,decorator"


def strict(command: str) -> str:
    """``command`` with every failing exit status mapped to 1: mutmut 2 counts only status 1 as killed, so a
    mutant that breaks an import (pytest exits 2: collection error) would otherwise count as a survivor."""
    return "sh -c " + shlex.quote(f"{command} || exit 1")


def mutmut(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=REPO, capture_output=True, text=True).stdout


def score(module: str, tests: str) -> dict:
    """Run mutmut on one module with a fresh cache; killed / survived / timeout counts and survivors' diffs."""
    (REPO / ".mutmut-cache").unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mutmut", "run", "--paths-to-mutate", module, "--tests-dir", "tests",
                    "--disable-mutation-types", DISABLED, "--runner", strict(f"{PYTEST} {tests}"), "--no-progress"],
                   cwd=REPO, capture_output=True, text=True)
    counts = {kind: mutmut("result-ids", kind).split() for kind in ("killed", "survived", "timeout", "suspicious")}
    diffs = {i: mutmut("show", i) for i in counts["survived"]}
    return {"module": module, "tests": tests, "seconds": round(time.perf_counter() - t0),
            **{k: len(v) for k, v in counts.items()}, "survivors": diffs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="substring of the module paths to run")
    p.add_argument("--json", help="write the results (with survivors' diffs) to this file")
    args = p.parse_args(argv)
    if shutil.which("mutmut") is None and subprocess.run([sys.executable, "-m", "mutmut", "--help"],
                                                         capture_output=True).returncode != 0:
        sys.exit('mutmut is not installed: pip install -e ".[mutation]"')
    results = []
    for module, tests in MODULES.items():
        if args.only and args.only not in module:
            continue
        r = score(module, tests)
        results.append(r)
        total = r["killed"] + r["survived"] + r["timeout"] + r["suspicious"]
        print(f"{module}: {r['killed']}/{total} killed, {r['survived']} survived, {r['timeout']} timeout, "
              f"{r['suspicious']} suspicious ({r['seconds']} s)", flush=True)
        for i, diff in r["survivors"].items():
            print(f"  survivor {i}:\n" + "\n".join("    " + line for line in diff.strip().splitlines()), flush=True)
    (REPO / ".mutmut-cache").unlink(missing_ok=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
