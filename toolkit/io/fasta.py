"""FASTA records as a sequence table (columns ``id``, ``description``, ``sequence``)."""

import numpy as np
import pandas as pd

from ..errors import InputError
from .tables import SeqTable


def read_fasta(stream, name):
    """Parse FASTA from a binary stream into a :class:`SeqTable`.

    The id is the header's first word; the rest of the header is kept in
    ``description``. Sequence lines are joined; whitespace is removed.
    """
    data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"binary or non-UTF-8 data at byte {exc.start}", file=name) from None
    del data
    ids, descs, seqs, lines = [], [], [], []
    chunks = None
    lineno = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith(">"):
            if chunks is not None:
                seqs.append("".join(chunks))
            header = line[1:].strip()
            if not header:
                raise InputError("FASTA header without a name", file=name, line=lineno, hint="give every record a name after '>'")
            parts = header.split(None, 1)
            if len(parts) > 1 and "\t" in parts[1]:
                raise InputError("FASTA header has a tab inside its description", file=name, line=lineno,
                                 hint="replace it with a space: every output is TSV, which cannot hold tabs in a field")
            ids.append(parts[0])
            descs.append(parts[1] if len(parts) > 1 else "")
            lines.append(lineno)
            chunks = []
        elif line.startswith(";") or not line.strip():
            continue
        else:
            if chunks is None:
                raise InputError("sequence before the first FASTA header", file=name, line=lineno, hint="FASTA records start with '>name'")
            chunks.append("".join(line.split()))
    if chunks is not None:
        seqs.append("".join(chunks))
    if not ids:
        raise InputError("no FASTA records", file=name)
    cols = {"id": ids}
    if any(descs):
        cols["description"] = descs
    cols["sequence"] = seqs
    df = pd.DataFrame(cols, dtype=str)
    return SeqTable(df, "sequence", "id", np.asarray(lines, dtype=np.int64), name, "fasta")
