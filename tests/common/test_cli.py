"""Fast tier: every command-line tool, run as users run it, with bad arguments and no model:
one clear `error:` line naming what is wrong, the documented exit status, no traceback."""

from __future__ import annotations

import pytest

from handler.common import NeuralSearchError, UsageError, cli
from tests.support.helpers import REPO, SAMPLE_FILE, run_module


@pytest.mark.parametrize("args, status, message", [
    (["scripts.embed", "--input", str(SAMPLE_FILE), "--out", "{tmp}/v", "--batch-size", "0"], 2, "--batch-size must be >= 1, got 0"),
    (["scripts.embed", "--input", "/no/such/file.jsonl", "--out", "{tmp}/v"], 2, "--input '/no/such/file.jsonl' does not exist"),
    (["scripts.embed", "--input", str(SAMPLE_FILE), "--out", "{tmp}/v", "--model-dir", "{tmp}/nomodel"], 2, "no manifest.json in"),
    (["scripts.embed", "--input", "http://127.0.0.1:9/startups_demo.json", "--out", "{tmp}/v"], 2, "could not download"),
    (["scripts.upload", "--input", str(SAMPLE_FILE), "--vectors", "{tmp}/none"], 2, "has no report.json: run `python -m scripts.embed"),
    (["scripts.upload", "--input", str(SAMPLE_FILE), "--vectors", "{tmp}/none", "--retries", "0"], 2, "--retries must be >= 1"),
    (["export", "--out", "{tmp}/out", "--model", "{tmp}/nope"], 2, "does not exist or is not a directory"),
    (["handler"], 2, "no manifest.json in"),
])
def test_bad_arguments_get_one_clear_line(tmp_path, args, status, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    env = {"NEURAL_SEARCH_CACHE": str(tmp_path / "cache"), "MODEL_DIR": str(tmp_path / "nomodel"), "QDRANT_PATH": str(tmp_path / "q")}
    result = run_module(*args, env=env, timeout=120)
    assert result.returncode == status, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1, result.stderr


def test_argparse_errors_exit_2_with_usage(tmp_path):
    result = run_module("scripts.embed", "--out", str(tmp_path), "--device", "tpu")
    assert result.returncode == 2 and "invalid choice: 'tpu'" in result.stderr


def test_export_refuses_to_replace_a_directory_that_is_not_an_export(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    result = run_module("export", "--out", str(precious), cwd=REPO)
    assert result.returncode == 2 and "refusing to replace" in result.stderr
    assert (precious / "thesis.txt").read_text() == "do not delete"


def test_cli_turns_errors_into_one_line_and_a_status(capsys, monkeypatch):
    monkeypatch.delenv("NEURAL_SEARCH_DEBUG", raising=False)

    @cli(interrupted="nothing was written")
    def main(what):
        if what == "usage":
            raise UsageError("--out is not a directory")
        if what == "gate":
            raise NeuralSearchError("gate failed")
        if what == "ctrl-c":
            raise KeyboardInterrupt
        if what == "bug":
            raise ZeroDivisionError("division by zero")
        return 0

    assert main("ok") == 0
    assert main("usage") == 2 and capsys.readouterr().err == "error: --out is not a directory\n"
    assert main("gate") == 1 and capsys.readouterr().err == "error: gate failed\n"
    assert main("ctrl-c") == 130 and capsys.readouterr().err == "interrupted: nothing was written\n"
    assert main("bug") == 1 and "unexpected ZeroDivisionError" in capsys.readouterr().err
    monkeypatch.setenv("NEURAL_SEARCH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main("bug")
