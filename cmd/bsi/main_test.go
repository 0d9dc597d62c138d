package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the script tests run "bsi" as a command: the test binary
// re-executes itself as bsi.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"bsi": func() { os.Exit(runMain()) },
	})
}

// TestScripts runs every testdata/script/*.txtar file: each is a command-line
// session with its expected stdout, stderr and exit code.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
	})
}
