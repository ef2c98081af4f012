"""`prefix-bench download-model`: a Hugging Face hub model, fetched once at a pinned revision.

    prefix-bench download-model --repo gpt2-medium --revision 6dcaa7a... --out results/models/gpt2-medium

The workflow runs this as a local rule (`snakemake download_models` on a machine with internet,
e.g. a cluster's login node), so training and decoding jobs read a local directory and never
touch the network. Only safetensors weights, configs and tokenizer files are fetched (no pickled
weights). `provenance.json` records the repository, the revision asked for and the commit it
resolved to, and every file's sha256 is recorded by each run that loads it (run.json, "model").
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..atomic import atomic_dir, write_json
from ..errors import PrefixBenchError

#: weights as safetensors only, plus what configures the model and its tokenizer
FILES = ["*.safetensors", "*.json", "*.txt", "*.model", "vocab.*"]


def download_model(repo: str, revision: str | None, out: Path) -> dict:
    """Fetch `repo` at `revision` (None: the hub's main branch, resolved and recorded) into `out`,
    written whole or not at all; return its provenance."""
    from huggingface_hub import HfApi, snapshot_download

    with atomic_dir(out) as tmp:
        try:
            commit = HfApi().model_info(repo, revision=revision).sha
            snapshot_download(repo, revision=commit, local_dir=tmp, allow_patterns=FILES)
        except Exception as err:  # noqa: BLE001 - hub, network and offline errors all end here
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise PrefixBenchError(
                f"cannot download {repo}@{revision or 'main'}: {first}; run `snakemake download_models` "
                f"where there is internet (e.g. a login node), or set models.<name>.path to a local copy"
            ) from None
        if not any(tmp.glob("*.safetensors")):
            raise PrefixBenchError(f"{repo}@{commit}: no safetensors weights at this revision; pick a "
                                   "revision that has them (models.<name>.revision)")
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # the hub client's bookkeeping
        info = {"hub_repo": repo, "revision_requested": revision, "revision": commit}
        write_json(tmp / "provenance.json", info)
    return info


def run(args: argparse.Namespace) -> int:
    info = download_model(args.repo, args.revision, Path(args.out))
    print(f"downloaded {info['hub_repo']} at {info['revision']} to {args.out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("download-model", help="fetch a hub model at a pinned revision into a local directory",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True, help="hub repository id, e.g. gpt2-medium, facebook/bart-large")
    p.add_argument("--revision", help="commit, tag or branch (default: main, resolved and recorded)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)
