package main

// loadCommands returns the "bsi load" command (load generator for bsi serve
// and other HTTP servers of a repository tree).
func loadCommands() []*command { return nil }
