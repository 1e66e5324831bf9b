"""Training the product's model slots and the scheduled retrain job.

:mod:`~logguard.training.slots` says which (source, model) slots exist and how each is trained
and calibrated; :mod:`~logguard.training.history` reads the Parquet history the jobs train on;
:mod:`~logguard.training.evaluate` compares two models of a slot on one day;
:mod:`~logguard.training.retrain` is the job that trains candidates and promotes the ones that
are not worse.
"""
