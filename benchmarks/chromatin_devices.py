"""``lsgm chromatin learn --devices N``: the E-step sequence-parallel over N devices against one.

Fits the same chromatin-state HMM twice in one process that sees ``N`` devices (on CPU,
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` is set for a child process): once
with the time-parallel E-step split over a ``jax.sharding.Mesh`` of ``N`` devices
(:func:`lsgm.apps.chromatin_states.fit` with ``mesh``, what ``--devices N`` runs), once on
one device (the default E-step), both from ChromHMM's information initialisation, in float64,
with ChromHMM's stopping rule. Reports the largest absolute difference of every parameter
(after putting both in emission order), the final log-likelihoods, iterations and seconds
(compile included).

    python benchmarks/chromatin_devices.py                     # ChromHMM's sample, K = 15
    python benchmarks/chromatin_devices.py --max-bins 20000 --devices 4 --states 5

The default input is ChromHMM's sample (Debian package ``chromhmm-example``); ``--max-bins``
cuts every file to its first bins (a quick run). The flag adds CPU devices only: with
``JAX_PLATFORMS`` naming accelerators, the child uses those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SAMPLE_DIR = Path("/usr/share/doc/chromhmm/examples/SAMPLEDATA_HG18")

CHILD = r"""
import dataclasses, json, sys, time
import jax
import numpy as np
from lsgm.apps.chromatin_states import model as cm
from lsgm.data import read_binarized_folder
from lsgm.distributed import make_mesh

folder, K, devices, max_bins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = read_binarized_folder(folder)
if max_bins > 0:
    data = [dataclasses.replace(d, x=d.x[:max_bins]) for d in data]
out = {"devices_seen": jax.device_count(), "platform": jax.devices()[0].platform,
       "bins": sum(len(d.x) for d in data)}
with jax.enable_x64(True):
    start = cm.information_init([d.x for d in data], K, data[0].marks)
    fits = {}
    for name, mesh in (("mesh", make_mesh(devices)), ("one", None)):
        began = time.perf_counter()
        run = cm.fit(data, start, mesh=mesh)
        m = run.model
        fits[name] = cm.reorder(m, cm.emission_order(m.emission))
        out[name] = {"seconds": time.perf_counter() - began, "iterations": len(run.iterations),
                     "log_likelihood": m.log_likelihood}
for part in ("initial", "transition", "emission"):
    a, b = getattr(fits["mesh"], part), getattr(fits["one"], part)
    out["max_abs_diff_" + part] = float(np.abs(a - b).max())
print("RESULT " + json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", default=str(SAMPLE_DIR))
    parser.add_argument("--states", type=int, default=15)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--max-bins", type=int, default=0, help="cut every file (0: whole)")
    args = parser.parse_args(argv)
    env = dict(os.environ)  # the flag only adds CPU devices; accelerators stay as they are
    flag = f"--xla_force_host_platform_device_count={args.devices}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    run = subprocess.run(
        [sys.executable, "-c", CHILD, args.input_dir, str(args.states), str(args.devices)]
        + [str(args.max_bins)],
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        print(run.stdout + run.stderr, file=sys.stderr)
        return run.returncode
    result = json.loads(run.stdout.splitlines()[-1].removeprefix("RESULT "))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
