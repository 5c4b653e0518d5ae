"""Generated code: only codegen/regen.py writes here."""
