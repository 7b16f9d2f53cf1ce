"""Data layer: schema, parquet store, reference tables, loaders and the demo generator. No Dash here."""
