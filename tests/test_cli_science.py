"""No silent science: an EM fit stopped by its iteration cap says so (a warning, the model
file, ``lsgm info``), ``--resume`` from a folder that does not exist is an error, and
``lsgm experiment gene-structure`` refuses sequences with no annotation of its source."""

import json

import numpy as np
import pytest
from flax import nnx

from lsgm.apps.genomics import gene_structure as gs
from lsgm.cli.main import main
from lsgm.data import BaseLabels
from lsgm.distributions import Categorical
from lsgm.models import HMM, save_model


def test_info_shows_whether_em_converged_also_for_old_files(tmp_path, capsys):
    # `lsgm fit` writing the fields: tests/test_cli.py::test_music_fit_sample_midi.
    hmm = HMM(2, Categorical(2, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    history = {"log_likelihood": [-20.0, -12.5, -12.0], "converged": False}
    training = {"trainer": "em", "history": history}
    info = {"input": {"kind": "sequence", "alphabet": "ACGT"}, "training": training}
    save_model(tmp_path / "old.lsgm", hmm, info)  # written before the fields existed
    save_model(
        tmp_path / "new.lsgm",
        hmm,
        {**info, "training": {**training, "converged": True, "n_iter": 3, "last_change": 0.5}},
    )
    assert main(["info", str(tmp_path / "old.lsgm")]) == 0
    text = capsys.readouterr().out
    assert "EM: 3 iterations, NOT converged (stopped at the cap)" in text
    assert "warning: EM did not converge" in text and "changed by +0.5 " in text
    assert main(["info", str(tmp_path / "old.lsgm"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["training"]
    assert (status["converged"], status["n_iter"], status["last_change"]) == (False, 3, 0.5)
    assert main(["info", str(tmp_path / "new.lsgm")]) == 0
    text = capsys.readouterr().out
    assert "EM: 3 iterations, converged" in text and "warning" not in text


def test_resume_from_a_folder_that_does_not_exist_is_an_error(tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    argv = ["experiment", "music", "--quick", "--checkpoint-dir", str(missing), "--resume"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err and not missing.exists()


def test_gene_structure_refuses_a_sequence_without_annotation(tmp_path, capsys):
    gene = "ATG" + "GCT" * 8 + "TAA"
    (tmp_path / "g.fa").write_text(f">left\n{gene * 2}\n>right\n{gene * 2}\n")
    rows = [("left", "WormBase", 1, 30), ("right", "RefSeq", 1, 30)]
    (tmp_path / "g.gff3").write_text(
        "##gff-version 3\n"
        + "".join(f"{s}\t{src}\tCDS\t{a}\t{b}\t.\t+\t0\tParent=t{s}\n" for s, src, a, b in rows)
    )
    argv = ["experiment", "gene-structure", "--fasta", str(tmp_path / "g.fa")]
    argv += ["--gff", str(tmp_path / "g.gff3"), "--train", "left", "--test", "right"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no CDS features of source WormBase on right" in err
    assert "come from RefSeq" in err and "--sources" in err
    # A test set with no exon base (e.g. --quick's first bases) is refused before decoding.
    nothing = BaseLabels(np.zeros(8, np.int8), np.zeros(8, np.int8))
    with pytest.raises(ValueError, match=r"the test set \(right\) holds no exon \(CDS\) bases"):
        gs._evaluate(None, {"right": (np.zeros(8, np.int32), nothing)}, None, None, "test")


def test_em_training_plots_say_em_iteration():
    from lsgm.cli.generate import _history_curves
    from lsgm.plots import history_curves

    curves, xlabel, _ = history_curves(_history_curves({"log_likelihood": [-3.0, -2.0]}))
    assert (curves, xlabel) == ({"EM": [3.0, 2.0]}, "EM iteration")
    _, xlabel, _ = history_curves(_history_curves({"train_nll": [2.0, 1.0]}))
    assert xlabel == "epoch"
