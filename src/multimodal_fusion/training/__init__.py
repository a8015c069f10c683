"""Model inputs and the training engine: device, seeding, early stopping. No Kedro."""
