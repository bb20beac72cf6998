"""Where text comes from: the files of a person's folders read (`extract`), cut into
chunks (`chunking`, at `sentences`), registered and kept up to date in the catalog
(`ingest`), and watched for changes (`watch`).
"""
