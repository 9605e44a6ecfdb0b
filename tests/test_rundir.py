"""Run folders: claim before any work, refuse what would be lost, resume only the same run."""

from __future__ import annotations

import json

import pytest

from _cli import snapshot
from shadownets.rundir import (
    RUN_FILE,
    OutDirError,
    check_out,
    claim,
    clean_stale_tmp,
    fingerprint,
    first_difference,
    read_run,
)


def _finished(out, config=None, kind="train"):
    c = claim(out, kind=kind, config=config or {"lr": 0.1, "epochs": 3}, code="v1")
    (out / "model.bin").write_bytes(b"weights")
    c.finish()
    return c


def test_a_new_folder_is_claimed_and_records_what_made_it(tmp_path):
    out = tmp_path / "run"
    c = claim(out, kind="train", config={"lr": 0.1}, code="v1")
    rec = read_run(out)
    assert rec["kind"] == "train" and rec["config"] == {"lr": 0.1} and rec["code"] == "v1"
    assert rec["status"] == "running" and not c.resumed
    assert rec["fingerprint"] == fingerprint("train", {"lr": 0.1}, "v1")
    c.check_data({"dataset": "digits", "sha256": "ab"})
    c.finish(test_error=0.1)
    rec = read_run(out)
    assert rec["status"] == "finished" and rec["data"]["sha256"] == "ab"
    assert rec["test_error"] == 0.1


def test_a_finished_run_is_never_silently_replaced(tmp_path):
    out = tmp_path / "run"
    _finished(out)
    before = snapshot(out)
    with pytest.raises(OutDirError, match=r"holds a finished train run; use --resume to "
                                          r"continue the same run, --overwrite to replace it"):
        claim(out, kind="train", config={"lr": 0.1, "epochs": 3}, code="v1")
    assert snapshot(out) == before


def test_resume_needs_the_same_settings_kind_and_code(tmp_path):
    out = tmp_path / "run"
    _finished(out)
    before = snapshot(out)
    with pytest.raises(OutDirError, match=r"other settings \(epochs: 3 → 5\)"):
        claim(out, kind="train", config={"lr": 0.1, "epochs": 5}, code="v1", resume=True)
    with pytest.raises(OutDirError, match="not a compare run"):
        claim(out, kind="compare", config={"lr": 0.1, "epochs": 3}, code="v1", resume=True)
    with pytest.raises(OutDirError, match="made by shadownets v1, this is v2"):
        claim(out, kind="train", config={"lr": 0.1, "epochs": 3}, code="v2", resume=True)
    assert snapshot(out) == before
    c = claim(out, kind="train", config={"lr": 0.1, "epochs": 3}, code="v1", resume=True)
    assert c.resumed and (out / "model.bin").read_bytes() == b"weights"
    c2 = claim(out, kind="train", config={"lr": 0.1, "epochs": 3}, code="v2", resume=True,
               same_code=False)
    assert c2.resumed


def test_resume_refuses_other_data(tmp_path):
    out = tmp_path / "run"
    c = claim(out, kind="train", config={}, code="v1")
    c.check_data({"sha256": "aa"})
    again = claim(out, kind="train", config={}, code="v1", resume=True)
    with pytest.raises(OutDirError, match=r"other data \(sha256: 'aa' → 'bb'\)"):
        again.check_data({"sha256": "bb"})


def test_overwrite_replaces_only_a_run(tmp_path):
    out = tmp_path / "run"
    _finished(out)
    c = claim(out, kind="train", config={"lr": 1.0}, code="v1", overwrite=True)
    assert not (out / "model.bin").exists() and not c.resumed
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(OutDirError, match="not empty and holds no shadownets run"):
        claim(mine, kind="train", config={}, code="v1", overwrite=True)
    assert (mine / "thesis.tex").read_text() == "mine"
    with pytest.raises(OutDirError, match="at most one of --resume and --overwrite"):
        claim(out, kind="train", config={}, code="v1", resume=True, overwrite=True)


def test_a_file_or_an_unwritable_place_is_refused(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(OutDirError, match="is a file, not a folder"):
        claim(f, kind="train", config={}, code="v1")
    with pytest.raises(OutDirError, match="cannot be written"):
        claim(f / "sub", kind="train", config={}, code="v1")
    assert f.read_text() == "x"


def test_check_out_writes_nothing_and_resumable_false(tmp_path):
    out = tmp_path / "run"
    assert check_out(out, kind="audit", config={}, code="v1") is None and not out.exists()
    _finished(out, kind="audit")
    with pytest.raises(OutDirError, match=r"holds a finished audit run; use --overwrite"):
        check_out(out, kind="audit", config={}, code="v1", resumable=False)
    with pytest.raises(OutDirError, match="cannot be resumed"):
        check_out(out, kind="audit", config={}, code="v1", resume=True, resumable=False)


def test_a_failed_fresh_claim_is_undone(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), claim(out, kind="audit", config={}, code="v1"):
        raise RuntimeError("bad model spec")
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError), claim(empty, kind="audit", config={}, code="v1"):
        raise RuntimeError("boom")
    assert empty.is_dir() and not any(empty.iterdir())
    kept = tmp_path / "kept"
    with pytest.raises(RuntimeError), claim(kept, kind="audit", config={}, code="v1"):
        (kept / "partial.csv").write_text("a")
        raise RuntimeError("late failure")
    assert read_run(kept)["status"] == "running"  # work was written: kept, marked unfinished


def test_stale_tmp_files_are_cleaned_and_corrupt_records_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_FILE).write_text(json.dumps({"kind": "train", "config": {}, "code": "v1",
                                            "status": "running"}))
    (out / ".checkpoint.safetensors.ab12cd34.tmp").write_bytes(b"half")
    (out / ".my-notes.tmp").write_text("mine")  # not an atomic-write temporary: kept
    (out / "sub").mkdir()
    (out / "sub" / ".x.ab12cd34.tmp").write_text("in a subfolder: kept")
    claim(out, kind="train", config={}, code="v1", resume=True)
    assert not (out / ".checkpoint.safetensors.ab12cd34.tmp").exists()
    assert (out / ".my-notes.tmp").exists() and (out / "sub" / ".x.ab12cd34.tmp").exists()
    assert clean_stale_tmp(out) == []
    (out / RUN_FILE).write_text("{not json")
    with pytest.raises(OutDirError, match="unreadable"):
        read_run(out)


def test_first_difference_names_nested_settings():
    assert first_difference({"a": {"b": 1}}, {"a": {"b": 2}}) == "a.b: 1 → 2"
    assert first_difference({"a": 1}, {"a": 1, "c": 2}) == "c: '<unset>' → 2"
    assert first_difference({"x": [1, 2]}, {"x": [1, 2]}) is None


def test_overwrite_puts_the_old_run_back_when_the_new_one_fails(tmp_path):
    out = tmp_path / "run"
    _finished(out)
    before = snapshot(out)
    with pytest.raises(RuntimeError), claim(out, kind="train", config={"lr": 2.0}, code="v1",
                                            overwrite=True) as c:
        assert not (out / "model.bin").exists()  # set aside while the new run works
        (out / "partial.bin").write_bytes(b"new")
        assert c.backup is not None and c.backup.is_dir()
        raise RuntimeError("bad shadow layer")
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".run.replaced-*"))
    c = claim(out, kind="train", config={"lr": 2.0}, code="v1", overwrite=True)
    c.finish()
    assert not list(tmp_path.glob(".run.replaced-*")) and read_run(out)["config"] == {"lr": 2.0}


def test_overwrite_replaces_only_a_run_of_the_same_kind(tmp_path):
    out = tmp_path / "run"
    _finished(out)
    before = snapshot(out)
    with pytest.raises(OutDirError, match="replaces only a run of the same kind"):
        claim(out, kind="audit", config={}, code="v1", overwrite=True)
    assert snapshot(out) == before


def test_check_data_partial_lets_a_comparison_add_data_sets(tmp_path):
    out = tmp_path / "run"
    claim(out, kind="compare", config={}, code="v1").check_data({"digits": "aa"}, partial=True)
    again = claim(out, kind="compare", config={}, code="v1", resume=True)
    again.check_data({"digits": "aa", "fashion": "bb"}, partial=True)
    assert read_run(out)["data"] == {"digits": "aa", "fashion": "bb"}
    third = claim(out, kind="compare", config={}, code="v1", resume=True)
    with pytest.raises(OutDirError, match="other data"):
        third.check_data({"digits": "zz"}, partial=True)


def test_a_folder_claimed_meanwhile_by_another_run_is_refused(tmp_path, monkeypatch):
    import shadownets.rundir as rd

    out = tmp_path / "run"
    real = rd.check_out

    raced = []

    def racing(*args, **kwargs):  # another process claims the folder after our checks
        result = real(*args, **kwargs)
        if not raced:
            raced.append(True)
            claim(out, kind="train", config={"other": 1}, code="v1")
        return result

    monkeypatch.setattr(rd, "check_out", racing)
    with pytest.raises(OutDirError, match="claimed by another run just now"):
        rd.claim(out, kind="train", config={}, code="v1")
    monkeypatch.undo()
    assert read_run(out)["config"] == {"other": 1}


def test_resuming_a_finished_run_leaves_its_record_as_it_was(tmp_path):
    out = tmp_path / "run"
    c = claim(out, kind="train", config={}, code="v1")
    c.check_data({"sha": "a"})
    c.finish()
    before = (out / RUN_FILE).read_bytes()
    again = claim(out, kind="train", config={}, code="v1", resume=True)
    again.check_data({"sha": "a"})
    assert (out / RUN_FILE).read_bytes() == before
