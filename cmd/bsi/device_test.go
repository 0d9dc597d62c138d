package main

import (
	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

// The client commands' output types and limits, for the tests that read
// what "bsi client ..." prints.
type (
	reportJSON = devicecli.ReportJSON
	statusJSON = devicecli.StatusJSON
)

const reportFlushTimeout = devicecli.ReportFlushTimeout

// unsafeRune reports whether printable escapes r.
func unsafeRune(r rune) bool { return devicecli.Printable(string(r)) != string(r) }
