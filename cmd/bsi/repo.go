package main

// repoCommands is filled by its own change; until then the group is empty.
func repoCommands() []*command { return nil }
