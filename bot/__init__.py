"""civictext: a two-way SMS advocacy bot."""
