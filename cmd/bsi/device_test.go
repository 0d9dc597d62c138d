package main

import (
	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/cmd/internal/devicecli"
	"github.com/bsiframework/bsi/internal/progress"
)

// The client commands' output types and limits, for the tests that read
// what "bsi client ..." prints.
type (
	reportJSON = devicecli.ReportJSON
	statusJSON = devicecli.StatusJSON
)

const reportFlushTimeout = devicecli.ReportFlushTimeout

// withClientProgress sets up the progress bars "bsi client install" draws
// on a terminal.
func withClientProgress(e *env, opts *agent.Options, bar progress.Options) {
	devicecli.WithClientProgress(e, opts, bar)
}

// unsafeRune reports whether printable escapes r.
func unsafeRune(r rune) bool { return devicecli.Printable(string(r)) != string(r) }
