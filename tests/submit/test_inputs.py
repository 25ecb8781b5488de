"""Job inputs per task kind: images and texts, files, folders and bundled samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pfleet.inference.texts import decode_texts, sample_sentences
from p2pfleet.submit.inputs import encode_inputs, load_inputs
from p2pfleet.submit.job import SAMPLE_PHOTOS, SAMPLE_SENTENCES, JobSpecError, load_job_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_text_file_gives_one_input_per_non_blank_line(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("  first text \n\n second text\n")
    inputs = load_inputs(str(source), "embed-text")
    assert inputs == [("notes.txt:1", "first text"), ("notes.txt:3", "second text")]
    assert decode_texts(encode_inputs(inputs)) == ["first text", "second text"]


def test_a_folder_of_text_files_is_read_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("bee\n")
    (tmp_path / "a.txt").write_text("ant\nape\n")
    (tmp_path / "skip.md").write_text("not a text input\n")
    names = [name for name, _ in load_inputs(str(tmp_path), "embed-text")]
    assert names == ["a.txt:1", "a.txt:2", "b.txt:1"]


def test_bundled_samples_match_the_task() -> None:
    texts = load_inputs(SAMPLE_SENTENCES, "embed-text")
    assert [text for _, text in texts] == list(sample_sentences())
    images = load_inputs(SAMPLE_PHOTOS, "classify-image")
    assert len(images) == 16 and encode_inputs(images[:2])[:4] == b"P2FT"
    with pytest.raises(JobSpecError, match="sample:sentences"):
        load_inputs(SAMPLE_PHOTOS, "embed-text")
    with pytest.raises(JobSpecError, match="sample:photos"):
        load_inputs(SAMPLE_SENTENCES, "classify-image")


def test_bad_text_inputs_are_refused_with_the_fix(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(JobSpecError, match="no non-blank lines"):
        load_inputs(str(empty), "embed-text")
    long = tmp_path / "long.txt"
    long.write_text("ok\n" + "x" * 3000 + "\n")
    with pytest.raises(JobSpecError, match=r"long\.txt line 2 is over 2048 bytes"):
        load_inputs(str(long), "embed-text")
    with pytest.raises(JobSpecError, match="no texts found"):
        load_inputs(str(tmp_path / "missing"), "embed-text")


def test_the_example_job_files_load() -> None:
    assert load_job_spec(EXAMPLES / "job.toml").model == "mobilenet_v2-int8"
    embed = load_job_spec(EXAMPLES / "embed-job.toml")
    assert (embed.model, embed.inputs, embed.policy) == (
        "minilm-l6-embed",
        SAMPLE_SENTENCES,
        "tolerant-unanimous",
    )
