"""A corpus of bad inputs across every command: each is exit code 2 and one line on stderr naming the problem.

Every case runs the real entry point (:func:`physlens.cli.main`) in-process under Typer's
``CliRunner`` isolation (fast: no interpreter start-up), and fails before any training, so the
whole corpus runs in seconds; two cases run the installed script in a subprocess to pin the
exit code of the process itself.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import run_cli

GOOD_ROWS = "".join(f"{i},{(i * 7) % 5},{i * 0.5}\n" for i in range(40))


def invoke(*argv: str) -> tuple[int, str, str]:
    """Run ``physlens ARGV`` through the script's entry point in-process; return (exit code, stdout, stderr)."""
    from physlens.cli import main

    runner = CliRunner()
    saved = sys.argv
    with runner.isolation() as (out, err, _):
        sys.argv = ["physlens", *argv]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        return code, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")


def _write_files(d: Path) -> None:
    """Every bad file of the corpus, in folder ``d``."""
    (d / "good.csv").write_text("a,b,y\n" + GOOD_ROWS)
    (d / "empty.csv").write_bytes(b"")
    (d / "blank.csv").write_text("\n  \n\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "latin1.csv").write_bytes(("température,b,y\n" + GOOD_ROWS).encode("latin-1"))
    (d / "header_only.csv").write_text("a,b,y\n")
    (d / "extra_fields.csv").write_text("a,b,y\n" + "".join(
        f"{i},{i % 3},{i},9,9\n" if i == 5 else f"{i},{i % 3},{i}\n" for i in range(40)))
    (d / "short_row.csv").write_text("a,b,y\n" + "".join(
        f"{i},{i % 3}\n" if i == 5 else f"{i},{i % 3},{i}\n" for i in range(40)))
    (d / "duplicate.csv").write_text("a,a,y\n" + GOOD_ROWS)
    (d / "unnamed.csv").write_text("a,,y\n" + GOOD_ROWS)
    (d / "nan_rows.csv").write_text("a,b,y\n" + "".join(
        "nan,nan,nan\n" if i in (3, 4) else f"{i},{i % 3},{i}\n" for i in range(40)))
    (d / "quote.csv").write_text('a,b,y\n"1,2\n' + GOOD_ROWS)
    (d / "constant.csv").write_text("a,b,y\n" + "".join(f"{i},7,{i}\n" for i in range(40)))
    (d / "few.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(5)))
    (d / "text_cell.csv").write_text("a,b,y\n" + "".join(
        f"{i},{'seven' if i == 9 else i % 3},{i}\n" for i in range(40)))
    (d / "same_time.csv").write_text("t,x\n" + "".join(f"{min(i, 10) * 0.1},{np.sin(i)}\n" for i in range(30)))
    (d / "blank_label.csv").write_text("run,t,x\n" + "".join(
        f"{'' if (k, r) == (3, 1) else r},{k * 0.1:.1f},{k * 0.3 + r}\n" for r in range(3) for k in range(10)))
    (d / "table.xlsx").write_bytes(b"PK\x03\x04")
    (d / "folder.csv").mkdir()
    (d / "not_zip.npz").write_text("a,b,y\n1,2,3\n")
    (d / "damaged.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    (d / "empty.npz").write_bytes(b"")
    np.savez(d / "cube.npz", a=np.zeros((3, 3, 3)), y=np.arange(3.0))
    np.savez(d / "objects.npz", a=np.array([{"x": 1}] * 30, dtype=object), y=np.arange(30.0))
    np.savez(d / "uneven.npz", a=np.arange(40.0), y=np.arange(30.0))
    (d / "text.parquet").write_text("a,b,y\n1,2,3\n")
    (d / "cut.parquet").write_bytes(b"PAR1" + b"\x00" * 40)
    (d / "not.h5").write_bytes(b"this is not an HDF5 file at all")
    (d / "study_unknown_key.yaml").write_text("name: x\nbogus: 1\n")
    (d / "study_list.yaml").write_text("- a\n- b\n")
    (d / "study_probe_option.yaml").write_text(
        "source: {system: toy_distractor, n: 50}\nprobes: [{name: attribution, options: {bogus: 1}}]\n")
    (d / "study_option_type.yaml").write_text(
        "source: {system: toy_distractor, n: 50}\nprobes: [{name: attribution, options: {repeats: many}}]\n")
    (d / "study_runner_option.yaml").write_text(
        "source: {system: toy_distractor, n: 50}\nprobes: [{name: attribution, options: {heldout: [1, 2]}}]\n")
    (d / "study_binary.yaml").write_bytes(b"\x00\x01\x02" + bytes(range(128, 256)))
    (d / "study_bad.yaml").write_text("name: [unclosed\n")
    (d / "study.yaml").write_text("name: s\nsource: {system: toy_distractor, n: 100}\n")
    (d / "weights.safetensors").write_bytes(b"garbage")
    (d / "broken_run").mkdir()
    (d / "broken_run" / "findings.json").write_text("{")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder of bad files, plus ``run/``: a finished run (toy law, 3 epochs) for predict, spectra and report."""
    from physlens.study import Study, run_study

    d = tmp_path_factory.mktemp("bad_inputs")
    _write_files(d)
    r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200}, "probes": [{"name": "uncertainty"}],
                               "train": {"epochs": 3, "progress": False}}), out=d / "runs", progress=False)
    (d / "run").symlink_to(r.run_dir, target_is_directory=True)

    for broken, damage in (("damaged_dataset_run", "dataset.npz"), ("damaged_weights_run", "checkpoints/model.safetensors")):
        shutil.copytree(r.run_dir, d / broken)
        (d / broken / damage).write_bytes(b"\x00garbage")
    names = r.dataset.input_names
    (d / "new_nan.csv").write_text(",".join(names) + "\n" + "".join(
        ",".join("nan" if (i == 2 and j == 1) else f"{0.1 * i + j}" for j in range(len(names))) + "\n" for i in range(5)))
    (d / "new_missing.csv").write_text(",".join(names[:-1]) + "\n1,2\n")
    return d


# (case, argv with {d} for the corpus folder, text the one-line message must hold)
CASES = [
    # discover: files
    ("empty file", "discover {d}/empty.csv", "empty.csv is empty"),
    ("blank lines only", "discover {d}/blank.csv", "blank.csv is empty"),
    ("binary data as csv", "discover {d}/binary.csv", "is not text but binary data"),
    ("latin-1 text", "discover {d}/latin1.csv", "is not UTF-8 text"),
    ("header without rows", "discover {d}/header_only.csv", "has column names but no data rows"),
    ("line with extra fields", "discover {d}/extra_fields.csv", "line 7 has 5 fields but the header has 3"),
    ("row with a missing field", "discover {d}/short_row.csv", "column 'y' has a missing value in row 6"),
    ("duplicate column", "discover {d}/duplicate.csv", "has two columns named 'a'"),
    ("unnamed column", "discover {d}/unnamed.csv", "column 2 of unnamed.csv has no name"),
    ("nan rows", "discover {d}/nan_rows.csv", "column 'a' has NaN in row 4 (2 bad rows in all)"),
    ("unclosed quote", "discover {d}/quote.csv", "a quote (\") that is never closed"),
    ("constant column", "discover {d}/constant.csv", "column 'b' is constant"),
    ("too few rows", "discover {d}/few.csv", "has only 5 rows; at least 20 are needed"),
    ("text in a number column", "discover {d}/text_cell.csv", "non-numeric value 'seven' in row 10"),
    ("empty run label", "discover {d}/blank_label.csv --groups run --time t", "groups column 'run' has an empty label in row 14"),
    ("repeated time", "discover {d}/same_time.csv --time t", "two rows at time 1"),
    ("unsupported file type", "discover {d}/table.xlsx", "unsupported file type '.xlsx'"),
    ("directory named like a file", "discover {d}/folder.csv", "is a directory, not a data file"),
    ("missing file", "discover {d}/nowhere.csv", "file not found"),
    ("text file as npz", "discover {d}/not_zip.npz", "is not an NPZ archive"),
    ("damaged npz", "discover {d}/damaged.npz", "damaged NPZ archive"),
    ("empty npz", "discover {d}/empty.npz", "empty.npz is empty"),
    ("3-D array in npz", "discover {d}/cube.npz", "array 'a' in cube.npz has 3 dimensions"),
    ("pickled objects in npz", "discover {d}/objects.npz", "holds Python objects"),
    ("columns of different lengths", "discover {d}/uneven.npz", "differ in length: 'a' has 40 rows, 'y' has 30"),
    ("text file as parquet", "discover {d}/text.parquet", "is not a Parquet file"),
    ("parquet cut short", "discover {d}/cut.parquet", "Parquet file cut short"),
    ("not hdf5", "discover {d}/not.h5", "is not an HDF5 file"),
    # discover: options and study files
    ("missing target column", "discover {d}/good.csv --target zz", "target column 'zz' not found in good.csv; columns are: a, b, y"),
    ("missing input column", "discover {d}/good.csv --inputs a,zz", "input column 'zz' not found"),
    ("missing time column", "discover {d}/good.csv --time tt", "time column 'tt' not found"),
    ("wrong budget", "discover {d}/good.csv --budget fast", "--budget must be one of quick, standard, thorough, got 'fast'"),
    ("unknown unit", "discover {d}/good.csv --units a=zorks", "unknown unit 'zorks' for column 'a'"),
    ("malformed unit spec", "discover {d}/good.csv --units metres", "must look like COLUMN=UNIT"),
    ("unknown probe", "discover {d}/good.csv --probes astrology", "unknown probe 'astrology'; available:"),
    ("empty probe list", "discover {d}/good.csv --probes ,", "--probes is empty"),
    ("zero epochs", "discover {d}/good.csv --epochs 0", "train.epochs: Input should be greater than or equal to 1"),
    ("zero samples", "discover toy_distractor --n 0", "source.n: Input should be greater than 0"),
    ("negative noise", "discover toy_distractor --noise -1", "source.noise"),
    ("malformed system parameter", "discover toy_distractor --param k", "--param 'k' must look like NAME=VALUE"),
    ("unknown system", "discover no_such_system", "neither an existing data file nor a built-in system"),
    ("unknown model", "discover toy_distractor --n 60 --epochs 1 --probes attribution --model nosuch", "unknown model 'nosuch'"),
    ("study with an unknown key", "discover --config {d}/study_unknown_key.yaml", "bogus: Extra inputs are not permitted"),
    ("study that is a list", "discover --config {d}/study_list.yaml", "study_list.yaml"),
    ("missing study file", "discover --config {d}/nowhere.yaml", "study file not found"),
    ("unknown probe option", "discover --config {d}/study_probe_option.yaml",
     "probe 'attribution' has no option 'bogus'; it accepts: "),
    ("probe option of the wrong type", "discover --config {d}/study_option_type.yaml",
     "probe 'attribution' option 'repeats' must be an integer, got 'many'"),
    ("probe option the runner fills in", "discover --config {d}/study_runner_option.yaml",
     "option 'heldout' is filled in by the study runner"),
    ("resume from a damaged dataset", "discover --resume {d}/damaged_dataset_run", "dataset.npz is not a dataset saved by physlens"),
    ("resume from a non-run", "discover --resume {d}/folder.csv", "is not a physlens run directory (no study.yaml)"),
    # the shortcuts
    ("symmetries on an empty file", "symmetries {d}/empty.csv --target y", "empty.csv is empty"),
    ("symmetries with a wrong budget", "symmetries {d}/good.csv --target y --budget fast", "--budget must be one of quick"),
    ("symmetries on a missing target", "symmetries {d}/good.csv --target zz", "target column 'zz' not found"),
    ("equations on binary data", "equations {d}/binary.csv --target y", "is not text but binary data"),
    ("equations with a unit that does not parse", "equations {d}/good.csv --target y --units y=m/ss", "unknown unit"),
    ("phases with size equal to control", "phases {d}/good.csv --control y --size y", "--size and --control name the same column 'y'"),
    ("phases with a missing control column", "phases {d}/good.csv --control zz", "'zz' not found"),
    ("phases with a wrong budget", "phases {d}/good.csv --control y --budget slow", "--budget must be one of quick"),
    # predict, spectra, report on finished runs
    ("predict from a missing run", "predict {d}/nowhere {d}/good.csv", "run directory not found"),
    ("predict from a folder that is not a run", "predict {d}/folder.csv {d}/good.csv", "has no"),
    ("predict on an empty file", "predict {d}/run {d}/empty.csv", "empty.csv is empty"),
    ("predict on rows with NaN", "predict {d}/run {d}/new_nan.csv", "has NaN in row 3"),
    ("predict with a missing input column", "predict {d}/run {d}/new_missing.csv", "missing input column(s)"),
    ("predict with a wrong level", "predict {d}/run {d}/new_nan.csv --level 1.5", "--level must be strictly between 0 and 1"),
    ("predict from damaged weights", "predict {d}/damaged_weights_run {d}/new_nan.csv", "model.safetensors is unreadable"),
    ("spectra of damaged weights", "spectra {d}/damaged_weights_run", "is not a readable safetensors file"),
    ("spectra of a missing path", "spectra {d}/nowhere", "no such file or directory"),
    ("spectra of a data file", "spectra {d}/good.csv", "neither a run directory nor a .safetensors file"),
    ("spectra of a damaged safetensors", "spectra {d}/weights.safetensors", "is not a readable safetensors file"),
    ("spectra with a wrong budget", "spectra {d}/run --budget fast", "--budget must be one of quick"),
    ("report of a missing run", "report {d}/nowhere", "no run directory at"),
    ("report of a run with damaged findings", "report {d}/broken_run", "findings.json is not readable JSON"),
    # sweep and scorecard
    ("sweep of a missing study", "sweep {d}/nowhere.yaml --grid seed=1,2", "study file not found"),
    ("sweep of a binary study", "sweep {d}/study_binary.yaml --grid seed=1,2", "is not text but binary data"),
    ("sweep of a study that is a list", "sweep {d}/study_list.yaml --grid seed=1,2", "must hold a mapping of study settings"),
    ("sweep of invalid YAML", "sweep {d}/study_bad.yaml --grid seed=1,2", "is not valid YAML"),
    ("sweep with a malformed grid", "sweep {d}/study.yaml --grid nonsense", "--grid 'nonsense' must look like KEY=V1,V2"),
    ("sweep with an unknown executor", "sweep {d}/study.yaml --grid seed=1,2 --executor warp", "executor must be one of local, ray"),
    ("scorecard of an unknown system", "scorecard --systems no_such_system", "unknown system(s) no_such_system"),
    ("scorecard with a wrong budget", "scorecard --budget fast", "--budget must be one of quick"),
    ("scorecard with an unknown executor", "scorecard --executor warp", "executor must be one of local, ray"),
]


def test_the_corpus_is_large_and_covers_every_command():
    commands = {argv.split()[0] for _, argv, _ in CASES}
    assert len(CASES) >= 30
    assert {"discover", "symmetries", "equations", "phases", "predict", "spectra", "report", "sweep",
            "scorecard"} <= commands


@pytest.mark.parametrize("argv,message", [pytest.param(a, m, id=c) for c, a, m in CASES])
def test_bad_input_is_exit_2_and_one_line_naming_the_problem(corpus, argv, message, tmp_path):
    args = [a.replace("{d}", str(corpus)) for a in argv.split()]
    if args[0] in ("discover", "symmetries", "equations", "phases") and "--resume" not in args:
        args += ["--out", str(tmp_path)]
    if args[0] == "discover":
        args.append("--quiet")
    code, out, err = invoke(*args)
    assert code == 2, (code, err, out[-500:])
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines[0]
    assert out == ""  # nothing on stdout: --json consumers never read half an answer


def test_no_run_directory_is_left_behind_by_bad_input(corpus, tmp_path):
    code, _, _ = invoke("discover", str(corpus / "nan_rows.csv"), "--out", str(tmp_path), "--quiet")
    assert code == 2
    assert list(tmp_path.iterdir()) == []


# Bad inputs answered by the study file reader, the system registry and the script's entry point
# (Typer's own usage errors become one line too).
MORE_CASES = [
    ("invalid YAML study", "discover --config {d}/study_bad.yaml", "is not valid YAML"),
    ("binary study file", "discover --config {d}/study_binary.yaml", "is not text"),
    ("unknown system parameter", "discover toy_distractor --param bogus=3", "bogus"),
    ("negative seed", "discover toy_distractor --n 50 --seed -1 --epochs 1 --probes attribution", "seed"),
    ("non-integer option", "discover {d}/good.csv --epochs many", "--epochs"),
    ("unknown option", "discover {d}/good.csv --bogus", "--bogus"),
    ("systems with an unknown option", "systems --bogus", "--bogus"),
    ("probes with an extra argument", "probes attribution", "attribution"),
]


@pytest.mark.parametrize("argv,message", [pytest.param(a, m, id=c) for c, a, m in MORE_CASES])
def test_more_bad_input_is_one_line(corpus, argv, message, tmp_path):
    args = [a.replace("{d}", str(corpus)) for a in argv.split()]
    if args[0] == "discover":
        args += ["--out", str(tmp_path), "--quiet"]
    code, out, err = invoke(*args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_binary_file_is_exit_2_from_the_installed_script(corpus, tmp_path):
    proc = run_cli("discover", str(corpus / "binary.csv"), "--out", str(tmp_path), "--quiet", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: binary.csv is not text but binary data; a .csv file must be a text table"
    assert proc.stdout == ""


def test_unknown_probe_option_is_exit_2_from_the_installed_script(corpus, tmp_path):
    proc = run_cli("discover", "--config", str(corpus / "study_probe_option.yaml"), "--out", str(tmp_path), "--quiet",
                   "--json", timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith("error: probe 'attribution' has no option 'bogus'; it accepts:")
    assert "repeats" in line and "heldout" not in line


def test_a_study_yaml_given_as_the_source_is_read_as_the_study(corpus, tmp_path):
    """`physlens discover study.yaml` is `--config study.yaml`, not a data file of an unknown type."""
    code, out, err = invoke("discover", str(corpus / "study_probe_option.yaml"), "--out", str(tmp_path), "--quiet")
    assert code == 2 and err.strip().startswith("error: probe 'attribution' has no option 'bogus'"), err


def test_utf16_csv_with_a_byte_order_mark_is_read(tmp_path):
    from physlens.data.loaders import load

    path = tmp_path / "excel.csv"
    path.write_bytes(("a,b,y\n" + GOOD_ROWS).encode("utf-16"))
    ds = load(path, target="y")
    assert ds.input_names == ["a", "b"] and ds.n == 40
    assert json.dumps(ds.X[:2].tolist()) == "[[0.0, 0.0], [1.0, 2.0]]"
