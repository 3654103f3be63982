"""The LSGM authors' PyTorch training step, timed; runs INSIDE the lsgm-torch virtual environment.

    python lsgm_torch_runner.py --reference CHECKOUT --batch BATCH.npz --model-json JSON \\
        [--threads 2] [--repeats 7] [--warmup 3] [--entropy-weight 1] [--clip 1] [--lr 1e-3]

``CHECKOUT`` is a checkout of the authors' repository, given by the user; nothing of it is
copied or installed: its ``networks/lsgm.py`` is imported from there. ``JSON`` holds the keyword
arguments of its ``lsgm`` class; ``BATCH.npz`` holds ``x [B, T, D]`` float32 (batch first).

One step, as the authors' training loop does it: ``model(x)`` in training mode returns the
per-sequence log-likelihoods ``[B]`` and the per-sequence sums of filtering entropies ``[B]``;
the objective is ``mean_b(log p(x_b)) + entropy_weight · mean_b(sum_t H_bt)``; its negative is
back-propagated, the gradients are clipped to global norm ``clip`` and Adam (``lr``) steps.
Times are wall-clock per step with ``torch.set_num_threads(threads)``: the first step, then
``warmup`` untimed steps, then the median of ``repeats`` timed steps. Prints one JSON line in
the format of ``benchmarks/peer_envs.py``'s runners: ``{"train-step": {...}, "_meta": {...}}``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import statistics
import time
import warnings
from pathlib import Path


def load_reference(checkout: Path):
    """The authors' ``networks/lsgm.py`` module, imported from ``checkout``."""
    path = checkout / "networks" / "lsgm.py"
    spec = importlib.util.spec_from_file_location("lsgm_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="the authors' checkout")
    parser.add_argument("--batch", type=Path, required=True, help=".npz holding x [B, T, D]")
    parser.add_argument("--model-json", required=True, help="keyword arguments of their lsgm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--entropy-weight", type=float, default=1.0)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    warnings.filterwarnings("ignore")  # their code uses APIs that newer torch deprecates
    module, sha = load_reference(args.reference)
    kwargs = json.loads(args.model_json)
    model = module.lsgm(**kwargs)
    model.train()
    with np.load(args.batch) as z:
        x = torch.from_numpy(np.ascontiguousarray(z["x"], dtype=np.float32))
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=args.lr)
    batch = x.shape[0]

    def step() -> float:
        optimizer.zero_grad()
        log_lik, entropy = model(x)
        objective = log_lik.sum() / batch
        if args.entropy_weight != 0:
            objective = objective + args.entropy_weight * entropy.sum() / batch
        (-objective).backward()
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        return float(objective)

    start = time.perf_counter()
    value = step()
    first = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    result = {
        "train-step": {
            "seconds": statistics.median(times),
            "compile_seconds": first,
            "value": value,
            "parameters": int(sum(p.numel() for p in params)),
            "times": times,
        },
        "_meta": {
            "versions": {"torch": torch.__version__, "numpy": np.__version__},
            "threads": torch.get_num_threads(),
            "reference_sha256": sha,
            "shape": list(x.shape),
            "what": "their lsgm(**kwargs) in train mode; -(mean log p + w·mean sum_t H) "
            "backward; clip_grad_norm_; Adam",
        },
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
