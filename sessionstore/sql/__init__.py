"""SQL schema, column types, engines and schema upgrades."""
