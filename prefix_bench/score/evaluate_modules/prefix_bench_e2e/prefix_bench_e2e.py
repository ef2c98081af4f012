"""HF `evaluate` module: prefix_bench's official-protocol e2e scorer, loadable offline.

    evaluate.load("<abs path to this folder>").compute(predictions=..., references=...)

Runs `prefix_bench.score.score_task("e2e", ...)`, the code behind `prefix-bench score`.
"""

from prefix_bench.score.hf_metric import metric_class

PrefixBenchE2e = metric_class("e2e")
