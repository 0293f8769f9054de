"""Clinical reference data: diagnosis and provider codes, the interventions checklist."""
