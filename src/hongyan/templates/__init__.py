"""Templates (模板): reviewed message texts with ``${variables}``, and their rendering."""
