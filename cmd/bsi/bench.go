package main

// benchCommands is filled by its own change; until then the group is empty.
func benchCommands() []*command { return nil }
