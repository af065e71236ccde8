"""Monitoring: drift against the training reference, performance estimated before labels mature and realized
performance of matured scoring cohorts."""
