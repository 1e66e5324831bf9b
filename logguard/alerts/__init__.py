"""Alert ranking (CAR, Lin et al., CIKM 2018): alert records, the temporal model over alert
sequences, content similarity, the joint alert/pattern ranking, and attack scenarios."""
