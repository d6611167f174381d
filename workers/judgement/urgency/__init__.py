"""Urgency: which situation of the catalogue (ingest/urgency/situations.toml) a message reports, and how
urgent it is, from a linear model over its words and the circumstances it describes."""
