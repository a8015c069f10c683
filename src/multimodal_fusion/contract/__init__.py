"""The data contract: reading a manifest, splitting it, a folder of files as a manifest, and
validation with its quarantine of bad rows and files. No Kedro.

It knows the manifest's own columns (sample_id, label, split); which columns hold a
modality, and how to check their cells and files, the modality registry tells it.
"""
