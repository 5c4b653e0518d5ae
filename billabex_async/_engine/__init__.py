"""Engine layer: the concurrent, conflict-ordered writer shared by bulk and sync."""
