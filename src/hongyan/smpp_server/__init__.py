"""The SMPP server for tenants: another door into the sending pipeline, over SMPP 3.4."""
