"""Training data: scans -> normalised subjects -> renders and labelled points; synthetic people."""
