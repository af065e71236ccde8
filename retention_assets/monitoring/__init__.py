"""Monitoring: drift against the training reference and realized performance of matured scoring cohorts."""
