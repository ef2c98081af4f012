"""Who made a number: the dirty flag sees untracked code, not only modified files."""

from __future__ import annotations

import subprocess

from prefix_bench.provenance import git_state


def test_untracked_code_marks_the_checkout_dirty_but_untracked_results_do_not(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "prefix_bench").mkdir()
    (tmp_path / "prefix_bench" / "train.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "scores.json").write_text("{}")  # outputs are not code
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "prefix_bench" / "patch.py").write_text("import os\n")  # a local, uncommitted module
    state = git_state(tmp_path)
    assert state["dirty"] is True and state["untracked_code"] == ["prefix_bench/patch.py"]
