"""The command line: the distractor law from a CSV file, bad input, kill and resume, the report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_discover_on_csv_tells_the_distractor_from_the_relevant_inputs(distractor_csv, tmp_path):
    proc = run_cli("discover", str(distractor_csv), "--target", "y", "--out", str(tmp_path), "--json", "--epochs", "100",
                   "--probes", "attribution")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert set(out) == {"findings", "run_dir", "probes"}
    assert [p["status"] for p in out["probes"]] == ["ran"]
    verdict = {f["subject"]: f["value"]["relevant"] for f in out["findings"] if f["kind"] == "relevant-variable"}
    assert verdict == {"x1": True, "x2": True, "x3": False}
    run_dir = Path(out["run_dir"])
    html = (run_dir / "report.html").read_text()
    assert "x3 does not affect y" in html and "x1 affects y" in html
    for name in ("study.yaml", "findings.json", "dataset.npz", "checkpoints/last.safetensors"):
        assert (run_dir / name).exists(), name


BAD = {
    "missing": ("a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(30)), ["--target", "z"], "target column 'z' not found"),
    "nan": ("a,b,y\n" + "".join(f"{i},{'nan' if i == 4 else i % 3},{i}\n" for i in range(30)), [], "column 'b' has NaN in row 5"),
    "inf": ("a,b,y\n" + "".join(f"{'inf' if i == 2 else i},{i % 3},{i}\n" for i in range(30)), [], "column 'a' has infinite value in row 3"),
    "constant": ("a,b,y\n" + "".join(f"{i},7,{i}\n" for i in range(30)), [], "column 'b' is constant"),
    "few_rows": ("a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(4)), [], "only 4 rows"),
    "text": ("a,b,y\n" + "".join(f"{i},{'x7' if i == 9 else i % 3},{i}\n" for i in range(30)), [], "non-numeric value 'x7' in row 10"),
    "unit": ("a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(30)), ["--units", "a=zorks"], "unknown unit 'zorks'"),
    "groups": ("a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(30)), ["--groups", "run"], "groups column 'run' not found"),
}


def _main(argv, monkeypatch, capsys) -> tuple[int, str]:
    """Run the CLI entry point in-process (same code path as the script) and return (exit code, stderr)."""
    from physlens.cli import main

    monkeypatch.setattr(sys, "argv", ["physlens", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_error_and_nonzero_exit(tmp_path, case, monkeypatch, capsys):
    text, extra, message = BAD[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(text)
    code, err = _main(["discover", str(path), *extra, "--out", str(tmp_path), "--quiet"], monkeypatch, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err


def test_bad_input_exit_code_from_the_installed_script(tmp_path):
    text, extra, message = BAD["nan"]
    path = tmp_path / "nan.csv"
    path.write_text(text)
    proc = run_cli("discover", str(path), "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message} (1 bad row in all)"


def test_unknown_system_and_probe_are_named(tmp_path, monkeypatch, capsys):
    code, err = _main(["discover", "no_such_system", "--out", str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and "neither an existing data file nor a built-in system" in err
    code, err = _main(["discover", "toy_distractor", "--probes", "astrology", "--out", str(tmp_path), "--n", "50"],
                      monkeypatch, capsys)
    assert code == 2 and "unknown probe 'astrology'" in err


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_final_loss(distractor_csv, tmp_path):
    args = ["discover", str(distractor_csv), "--target", "y", "--epochs", "40", "--quiet", "--json", "--probes", "attribution"]
    full = run_cli(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    full_dir = Path(json.loads(full.stdout)["run_dir"])

    cut_out = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "physlens.cli", *args, "--out", str(cut_out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    ckpt = None
    while time.time() < deadline:
        found = list(cut_out.glob("*/checkpoints/last.safetensors"))
        hist = list(cut_out.glob("*/training.json"))
        if found and not hist:
            ckpt = found[0]  # checkpoints are written atomically: kill at once, before the run can finish
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared before the run finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = ckpt.parents[1]
    assert not (run_dir / "training.json").exists(), "run finished before it was killed"

    resumed = run_cli("discover", "--resume", str(run_dir), "--quiet", "--json")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((full_dir / "training.json").read_text())["summary"]
    b = json.loads((run_dir / "training.json").read_text())["summary"]
    assert abs(a["final_val_loss"] - b["final_val_loss"]) < 1e-6
    assert abs(a["final_train_loss"] - b["final_train_loss"]) < 1e-6


def test_report_escapes_user_supplied_names(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    evil = "<script>alert(1)</script>"
    path = tmp_path / "evil.csv"
    path.write_text(f"a,{evil},y\n" + "".join(f"{a},{b},{2 * a}\n" for a, b in X))
    proc = run_cli("discover", str(path), "--target", "y", "--epochs", "3", "--out", str(tmp_path), "--json", "--quiet",
                   "--probes", "attribution")
    assert proc.returncode == 0, proc.stderr
    html = (Path(json.loads(proc.stdout)["run_dir"]) / "report.html").read_text()
    assert evil not in html and "&lt;script&gt;" in html


def test_systems_command_lists_the_default_demo():
    proc = run_cli("systems", "--json")
    assert proc.returncode == 0
    names = [s["name"] for s in json.loads(proc.stdout)["systems"]]
    assert "toy_distractor" in names


def test_cli_budget_names_are_the_study_budgets():
    """The CLI checks --budget without importing the study; its list must be the study's."""
    from physlens.cli import BUDGET_NAMES
    from physlens.study import BUDGETS

    assert tuple(BUDGETS) == BUDGET_NAMES


def test_every_command_shares_the_common_options():
    """--seed, --out, --json read the same in every study shortcut (declared once in physlens.cli)."""
    from typer.testing import CliRunner

    from physlens.cli import app

    runner = CliRunner()
    for command in ("equations", "symmetries", "phases", "fields"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "parent directory of the run directory" in text, command
        assert "print one JSON object on stdout" in text, command


def test_statements_with_brackets_are_printed_as_text_not_markup():
    """A generator statement reads '[dx = ...]' and a user's column may be named '[b]': Rich must not eat them."""
    from rich.console import Console

    from physlens.cli.discover import findings_table
    from physlens.findings import Finding

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(findings_table([Finding("symmetry", "so(2): [dx = -1*y; dy = +1*x]; column [b] matters")]))
    text = console.export_text()
    assert "[dx = -1*y; dy = +1*x]" in text and "[b] matters" in text
