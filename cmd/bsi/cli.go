package main

import (
	"context"
	"slices"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
)

// Exit codes, documented in "bsi help".
const (
	exitOK        = devicecli.ExitOK
	exitFailure   = devicecli.ExitFailure
	exitUsage     = devicecli.ExitUsage
	exitSecurity  = devicecli.ExitSecurity
	exitFreshness = devicecli.ExitFreshness
)

// env is everything a command may touch outside its arguments (streams,
// environment, clock, terminals, logger): devicecli's, the one bsi-agent's
// commands take, so that tests run commands in-process.
type env = devicecli.Env

// command is one "bsi GROUP VERB" (or "bsi VERB") command: the publisher
// and auditor side's are here, the device commands devicecli's.
type command = devicecli.Command

// program is the command line of bsi: its own commands and the device
// commands (client, tuf-client, version) of devicecli, run, printed and
// mapped to exit codes by devicecli.Program as in bsi-agent.
func program() *devicecli.Program {
	return &devicecli.Program{
		Name:  "bsi",
		Intro: helpIntro,
		Groups: []devicecli.Group{
			{Name: "demo", Title: "Start here"},
			{Name: "keys", Title: "Publishers: keys"},
			{Name: "manifest", Title: "Publishers: improvement manifests"},
			{Name: "repo", Title: "Publishers: repository workspace"},
			{Name: "rollout", Title: "Publishers: staged rollout"},
			{Name: "client", Title: "Devices: check, install, roll back"},
			{Name: "serve", Title: "Publishers: serving"},
			{Name: "fleet", Title: "Publishers: fleet reports"},
			{Name: "conformance", Title: "Auditors: conformance suite"},
			{Name: "audit", Title: "Auditors: repository audit"},
			{Name: "monitor", Title: "Auditors: transparency log monitor"},
			{Name: "witness", Title: "Witnesses: transparency log witness"},
			{Name: "tuf-client", Title: "Auditors: TUF conformance client protocol"},
			{Name: "", Title: "Other"},
		},
		Commands: commands(),
		Epilogue: helpExit,
	}
}

// commands returns every command of the binary. Each command group lives in
// a file of its own and contributes one function here; the device commands
// come last ("version" ends the "Other" group).
func commands() []*command {
	return slices.Concat(
		keysCommands(),
		manifestCommands(),
		repoCommands(),
		rolloutCommands(),
		serveCommands(),
		fleetCommands(),
		demoCommands(),
		conformanceCommands(),
		benchCommands(),
		loadCommands(),
		witnessCommands(),
		monitorCommands(),
		devicecli.Commands("bsi"),
	)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, e *env) int { return program().Run(ctx, args, e) }

const helpIntro = `bsi delivers background security improvements: urgent patches for one
component of a platform, signed and checked for freshness through a TUF role
hierarchy (root, targets, per-component roles, snapshot, timestamp).

Usage: bsi COMMAND [ARGS] [FLAGS]     (bsi COMMAND -h for details and examples)
`

const helpExit = `Exit codes:
  0  success
  1  failure (bad input, network, disk)
  2  usage error (unknown command, bad flag)
  3  security verification failure (signature, threshold, rollback, hash,
     delegation, manifest/role mismatch): nothing was installed
  4  freshness failure (expired metadata: a possible freeze attack)

Environment: the password of an encrypted private key file comes from the
first of these that is set (else a prompt on a terminal, which never echoes):
  BSI_KEY_PASSWORD_<NAME>  that key's password: NAME is the key file's base
                           name upper-cased, other characters than A-Z and 0-9
                           as "_" (keys/snapshot: BSI_KEY_PASSWORD_SNAPSHOT)
  BSI_KEY_PASSWORD_FILE    a file (mode 0600) whose first line is the password
  BSI_KEY_PASSWORD         the password of every key
The PIN of a PKCS#11 token (a key given as a pkcs11: URI) comes from the
URI's pin-source=file:/path, else BSI_PKCS11_PIN, else a prompt.

Diagnostics go to stderr as "bsi: error: ..." and "bsi: hint: ..."; data
goes to stdout; commands that report take --json.
`
