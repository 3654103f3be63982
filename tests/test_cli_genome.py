"""The genome side of the CLI: ``--region`` / ``--records`` select what is read, ``decode``
writes sorted, coloured BED9, GFF3 and bedGraph in the records' coordinates, ``posterior``
writes bedGraph (and bigWig with pyBigWig) tracks and NPZ arrays keyed by record name.

One supervised (counting) model and one selection, so every command reuses the same compiled
shapes; each output is checked against the library's Viterbi path and posteriors."""

import json
from pathlib import Path

import pytest

from lsgm.cli.main import main

DATA = Path(__file__).parent / "data"
DNA, LABELS = str(DATA / "cli_dna.fa"), str(DATA / "cli_labels.fa")
# Bases 11-60 of win1 (0-based [10, 60)) and the whole of win3.
PICK = ["--region", "win1:11-60", "--records", "win3"]


def run(capsys, argv) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("bad", ["win1:5-", "win1:a-9"])
def test_region_syntax_is_checked_when_parsing(bad):
    from lsgm.cli.inputs import region

    with pytest.raises(Exception, match="RECORD:START-END"):
        region(bad)
