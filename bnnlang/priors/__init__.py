"""Tools on priors: fitting a network's weight-prior scales to a function-space prior (`bnnc fit-prior`)."""
