"""The embedded tri-modal digits dataset: images, spoken digits and sentences. No Kedro."""
