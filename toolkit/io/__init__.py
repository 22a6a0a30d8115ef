"""Reading and writing: tables, FASTA, BED + genome windows, atomic outputs."""
