"""Loading user files and rejecting bad input with an error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from physlens.data import Dataset, dimension_vector, load, parse_units_spec
from physlens.errors import DataError


def _write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _table(n=30, bad=None):
    lines = ["a,b,y"]
    for i in range(n):
        a, b = i * 0.1, (i * 7 % 5) + 0.5
        lines.append(f"{a},{b},{a * b}")
    if bad:
        r, line = bad
        lines[r] = line
    return "\n".join(lines) + "\n"


def test_csv_columns_are_selected_by_name(tmp_path):
    ds = load(_write(tmp_path, _table()), target="y", inputs="b,a")
    assert ds.input_names == ["b", "a"] and ds.target_names == ["y"]
    assert np.allclose(ds.y[:, 0], ds.X[:, 0] * ds.X[:, 1])


@pytest.mark.parametrize("fmt", ["parquet", "npz", "h5"])
def test_other_formats_load_the_same_columns(tmp_path, fmt):
    import pandas as pd

    df = pd.read_csv(_write(tmp_path, _table()))
    path = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path)
    elif fmt == "npz":
        np.savez(path, **{c: df[c].to_numpy() for c in df.columns})
    else:
        import h5py

        with h5py.File(path, "w") as f:
            for c in df.columns:
                f[c] = df[c].to_numpy()
    ds = load(path, target="y")
    assert sorted(ds.input_names) == ["a", "b"]
    assert np.allclose(ds.y[:, 0], df["y"].to_numpy())


def test_units_are_parsed_into_si_dimension_vectors():
    units = parse_units_spec("F=N,eta=Pa*s,r=m,v=m/s")
    assert dimension_vector(units["F"]).tolist()[:3] == [1, -2, 1]
    assert dimension_vector(units["eta"]).tolist()[:3] == [-1, -1, 1]
    assert dimension_vector(units["v"]).tolist()[:3] == [1, -1, 0]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        (_table(), {"target": "z"}, "target column 'z' not found"),
        (_table(), {"target": "y", "inputs": "a,c"}, "input column 'c' not found"),
        (_table(bad=(5, "0.4,nan,1")), {"target": "y"}, "column 'b' has NaN in row 5"),
        (_table(bad=(7, "inf,1,1")), {"target": "y"}, "column 'a' has infinite value in row 7"),
        ("a,b,y\n" + "".join(f"{i},3,{i}\n" for i in range(30)), {"target": "y"}, "column 'b' is constant"),
        (_table(n=5), {"target": "y"}, "only 5 rows"),
        (_table(bad=(3, "0.2,abc,1")), {"target": "y"}, "non-numeric value 'abc' in row 3"),
        (_table(), {"target": "y", "units": "a=furlongs_per_blorp"}, "unknown unit 'furlongs_per_blorp'"),
        (_table(), {"target": "y", "units": "q=m"}, "column 'q', which is not in the data"),
        (_table(), {"target": "y", "groups": "run"}, "groups column 'run' not found"),
        (_table(), {"target": "y", "inputs": "a,b", "groups": "b"}, "column 'b' is both the groups column and an input"),
    ],
)
def test_bad_input_gives_an_error_naming_the_problem(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load(_write(tmp_path, text), **kwargs)


def test_comment_lines_and_decimal_commas_are_read(tmp_path):
    text = "# measured on 2026-12-01\n# rig 3\n" + _table()
    ds = load(_write(tmp_path, text), target="y")
    assert ds.n == 30 and np.allclose(ds.y[:, 0], ds.X[:, 0] * ds.X[:, 1])
    # a spreadsheet export with ';' between columns and ',' in the numbers
    euro = _table().replace(",", ";").replace(".", ",")
    ds2 = load(_write(tmp_path, euro, "e.csv"), target="y")
    assert np.allclose(ds2.X, ds.X) and np.allclose(ds2.y, ds.y)
    # a comma inside a ';' table that is not a decimal comma is still named
    with pytest.raises(DataError, match="non-numeric value 'x,y'"):
        load(_write(tmp_path, euro.replace("\n", "\nx,y;1;1\n", 1), "f.csv"), target="y")


def test_names_in_a_comment_line_serve_a_table_without_a_header_and_dat_files_are_text(tmp_path):
    """numpy.savetxt writes the names as ``# m v E`` above the numbers; with no names at all the error says so."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 5, (30, 3))
    X[:, 2] = X[:, 0] * X[:, 1]
    for name, kw in (("a.txt", {}), ("b.csv", {"delimiter": ","}), ("c.dat", {})):
        np.savetxt(tmp_path / name, X, header="m v E", **kw)
        ds = load(tmp_path / name)
        assert ds.input_names == ["m", "v"] and ds.target_names == ["E"] and ds.n == 30, name
        assert np.allclose(ds.X, X[:, :2])  # the first row is data, not names
    np.savetxt(tmp_path / "bare.csv", X, delimiter=",")
    with pytest.raises(DataError, match="bare.csv has no header line of column names: its first line is numbers"):
        load(tmp_path / "bare.csv")


def test_a_matrix_takes_the_column_names_stored_beside_it_and_one_group_is_left_out_of_the_names(tmp_path):
    import h5py

    rng = np.random.default_rng(1)
    X = rng.uniform(1, 5, (30, 3))
    np.savez(tmp_path / "a.npz", data=X, columns=np.array(["m", "v", "E"]))
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f.create_dataset("data", data=X).attrs["columns"] = ["m", "v", "E"]
    for name in ("a.npz", "b.h5"):
        ds = load(tmp_path / name)
        assert ds.input_names == ["m", "v"] and ds.target_names == ["E"] and np.allclose(ds.y[:, 0], X[:, 2]), name
    with h5py.File(tmp_path / "c.h5", "w") as f:  # every column in the group run1: named without it
        for j, nm in enumerate(["E", "m", "v"]):
            f[f"run1/{nm}"] = X[:, j]
    assert sorted(load(tmp_path / "c.h5", target="E").input_names) == ["m", "v"]


def test_groups_column_names_the_trajectories_and_is_not_an_input(tmp_path):
    rows = "".join(f"{i * 0.1},{i % 4},{'run' + str(i // 10)},{i * 0.2}\n" for i in range(60))
    ds = load(_write(tmp_path, "t,x,run,y\n" + rows), target="y", groups="run")
    assert ds.input_names == ["t", "x"]
    assert ds.groups().tolist() == [i // 10 for i in range(60)]
    train, val = ds.split_index(0.2, seed=0)  # 6 runs: validation holds out whole runs
    assert len(val) in (10, 20) and not set(ds.groups()[val]) & set(ds.groups()[train])


def test_missing_file_and_unknown_format_are_named(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unsupported file type '.xyz'"):
        load(_write(tmp_path, "a", name="d.xyz"))


def test_dataset_round_trips_through_npz(tmp_path):
    from physlens.systems import get_system

    ds = get_system("toy_distractor").sample(50, seed=3)
    ds.to_npz(tmp_path / "d.npz")
    back = Dataset.from_npz(tmp_path / "d.npz")
    assert np.array_equal(back.X, ds.X) and back.truth.relevant_inputs == ["x1", "x2"]
    assert back.truth.equations["y"] == ds.truth.equations["y"]
