"""A hyperparameter sweep of pyautotape MLPs on the bundled 8x8 digits with Ray Tune.

Each trial trains an ``nn.Ensemble`` of ``--seeds`` MLPs (the same hyperparameters, different
initialisations) as one compiled step, reports per-epoch metrics to Tune (the mean and the
best member's test accuracy, the accuracy of the averaged ensemble, the training loss) and
checkpoints with ``pat.save`` so Tune can resume or keep the best one. The search space:
learning rate, hidden sizes, weight decay, and dropout when ``nn.Dropout`` exists.

Install: ``pip install 'pyautotape[ray]'`` (that is ``ray[tune]``).

One machine (Ray starts locally, one CPU per trial)::

    python examples/sweep_ray.py --num-samples 8 --epochs 10

A multi-node Ray cluster: install pyautotape (and ray[tune]) on every node, start the
head and join the workers, then run the same script anywhere that reaches the head::

    ray start --head --port=6379                 # on the head node
    ray start --address=HEAD_IP:6379             # on every worker node
    python examples/sweep_ray.py --address HEAD_IP:6379 --num-samples 64
    # or: RAY_ADDRESS=HEAD_IP:6379 python examples/sweep_ray.py --num-samples 64

Trials are then scheduled over the whole cluster's CPUs; give ``--storage-path`` a directory
every node can write (a shared filesystem or s3://...) so checkpoints are kept in one place.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import numpy as np

import pyautotape as pat
from pyautotape import data, nn, optim


def _digits(seed: int = 0):
    X, y = data.load_digits()
    return data.train_test_split((X / 16.0).astype(np.float32), y, test_size=0.2, seed=seed)


def _member(hidden: list[int], dropout: float) -> nn.Module:
    sizes = [64, *hidden, 10]
    if dropout <= 0 or not hasattr(nn, "Dropout"):
        return nn.MLP(sizes)
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        if i:
            layers += [nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    return nn.Sequential(*layers)


def train_mlp(config: dict[str, Any]) -> None:
    """One trial: an Ensemble of config["seeds"] MLPs trained for config["epochs"] epochs,
    reporting to Tune after each epoch (with a pat.save checkpoint)."""
    from ray import tune

    pat.set_num_threads(1)  # one CPU per trial: Tune runs trials side by side
    X_train, X_test, y_train, y_test = _digits()
    pat.manual_seed(config.get("seed", 0))
    hidden = list(config["hidden"])
    ens = nn.Ensemble([_member(hidden, config.get("dropout", 0.0))
                       for _ in range(config["seeds"])])
    opt = optim.AdamW(ens.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    start = 1
    ckpt = tune.get_checkpoint()
    if ckpt is not None:  # Tune resumes a trial from its last checkpoint
        with ckpt.as_directory() as d:
            state = pat.load(os.path.join(d, "state.pat"))
        ens.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["epoch"]) + 1

    @pat.compile
    def step(xb: np.ndarray, yb: np.ndarray):
        opt.zero_grad()
        losses = ens.losses(loss_fn, ens(xb), yb)
        losses.sum().backward()
        opt.step()
        return losses

    loader = data.DataLoader(X_train, y_train, batch_size=config.get("batch_size", 64),
                             seed=config.get("seed", 0))
    for epoch in range(start, config["epochs"] + 1):
        ens.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            total += float(step(xb, yb).numpy().mean()) * len(yb)
            count += len(yb)
        ens.eval()
        with pat.no_grad():
            logits = ens(X_test).numpy()  # (seeds, N, 10)
        member_acc = (logits.argmax(axis=2) == y_test).mean(axis=1)
        ensemble_acc = float((logits.mean(axis=0).argmax(axis=1) == y_test).mean())
        metrics = {
            "epoch": epoch,
            "loss": total / count,
            "accuracy": float(member_acc.mean()),
            "best_member_accuracy": float(member_acc.max()),
            "ensemble_accuracy": ensemble_acc,
        }
        with tempfile.TemporaryDirectory() as d:
            pat.save({"model": ens.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch},
                     os.path.join(d, "state.pat"))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def search_space(epochs: int, seeds: int) -> dict[str, Any]:
    """lr, hidden sizes, weight decay (and dropout with nn.Dropout); epochs and seeds fixed."""
    from ray import tune

    space: dict[str, Any] = {
        "lr": tune.loguniform(3e-4, 1e-2),
        "hidden": tune.choice([[32], [64], [64, 32], [128, 64]]),
        "weight_decay": tune.choice([0.0, 1e-4, 1e-2]),
        "epochs": epochs,
        "seeds": seeds,
    }
    if hasattr(nn, "Dropout"):
        space["dropout"] = tune.choice([0.0, 0.1, 0.3])
    return space


def sweep(num_samples: int = 8, epochs: int = 10, seeds: int = 4, storage_path: str | None = None,
          param_space: dict[str, Any] | None = None, cpus_per_trial: float = 1):
    """Run the sweep on the Ray instance this process is connected to (ray.init first, or
    let Tune start a local one); returns Tune's ResultGrid."""
    from ray import tune

    tuner = tune.Tuner(
        tune.with_resources(train_mlp, {"cpu": cpus_per_trial}),
        param_space=param_space or search_space(epochs, seeds),
        tune_config=tune.TuneConfig(metric="accuracy", mode="max", num_samples=num_samples),
        run_config=tune.RunConfig(
            name="pyautotape_digits",
            storage_path=storage_path,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=0,
        ),
    )
    return tuner.fit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ray Tune sweep of pyautotape MLPs on digits.")
    parser.add_argument("--num-samples", type=int, default=8, help="trials (default 8)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=4, help="models per trial (an Ensemble)")
    parser.add_argument("--address", default=None,
                        help="a running Ray cluster (HEAD_IP:6379, or 'auto'); default: "
                        "RAY_ADDRESS if set, else a local instance")
    parser.add_argument("--storage-path", default=None,
                        help="where trial results and checkpoints go (shared on a cluster)")
    args = parser.parse_args(argv)

    import ray

    here = os.path.dirname(os.path.dirname(os.path.abspath(pat.__file__)))
    # workers import the pyautotape this driver imports (a source checkout included)
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}}
    ray.init(address=args.address or os.environ.get("RAY_ADDRESS"), runtime_env=env)
    results = sweep(args.num_samples, args.epochs, args.seeds, args.storage_path)
    best = results.get_best_result()
    print(f"best config: {best.config}")
    print(f"best accuracy {best.metrics['accuracy']:.2%} (ensemble of "
          f"{best.config['seeds']}: {best.metrics['ensemble_accuracy']:.2%}); "
          f"checkpoint {best.checkpoint}")
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
