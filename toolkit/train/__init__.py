"""Training machinery shared by the fit-* commands: sequence tensors and
augmentation (data), the CRE training loop (cre), model directories (modeldir)."""
