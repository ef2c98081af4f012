"""HF `evaluate` module: prefix_bench's official-protocol webnlg scorer, loadable offline.

    evaluate.load("<abs path to this folder>").compute(predictions=..., references=...)

Runs `prefix_bench.score.score_task("webnlg", ...)`, the code behind `prefix-bench score`.
"""

from prefix_bench.score.hf_metric import metric_class

PrefixBenchWebnlg = metric_class("webnlg")
