"""Framework-free foundations shared by every stage: column names, errors, the timeline and windows, files, plots."""
