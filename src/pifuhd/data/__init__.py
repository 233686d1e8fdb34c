"""Training data: scans -> normalised subjects -> renders and labelled points -> datasets."""
