"""Process graphs for GID: entity abstraction, compact time-respecting graphs, the historical
transition model, CSR random walks, Box-Cox length normalisation and the exact top-k path DP."""
