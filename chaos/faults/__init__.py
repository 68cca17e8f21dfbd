"""Built-in fault plugins: one module per fault family, each registering its faults via chaos_add_faults."""
