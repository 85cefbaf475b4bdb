"""Tables, figures and impact figures; reads results, never measures."""
