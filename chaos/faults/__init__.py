"""Built-in fault plugins: one module per fault family, each registering its faults via chaos_add_faults.

Each family module is a chaos plugin of its own (it defines ``chaos_add_faults``); the package exports nothing.
"""

__all__: list[str] = []
