"""Features: raw validation, entity cleaning, event windows, text components, silver, labels, gold and leakage probes."""
