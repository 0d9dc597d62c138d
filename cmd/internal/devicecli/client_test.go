package devicecli

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/trust/client"
)

// TestParseClient: the command line of a client command is checked in one
// order (flags, positional arguments, network bounds), and the command
// prints JSON-escaped exactly when it has --json and it is set.
func TestParseClient(t *testing.T) {
	def := client.DefaultNetwork
	tests := []struct {
		name     string
		json     bool // the command has --json
		network  bool // the command has --timeout and --retries
		min, max int
		args     []string
		wantPos  []string
		wantNet  client.Network
		wantJSON bool
		wantErr  string // "" for none; "help" for flag.ErrHelp
		wantCode int
	}{
		{name: "text", json: true, min: 1, max: 1, args: []string{"st"}, wantPos: []string{"st"}},
		{name: "json", json: true, min: 1, max: 1, args: []string{"--json", "st"}, wantPos: []string{"st"}, wantJSON: true},
		{name: "json=false", json: true, min: 1, max: 1, args: []string{"st", "--json=false"}, wantPos: []string{"st"}},
		{name: "default network", network: true, min: 1, max: 1, args: []string{"st"}, wantPos: []string{"st"},
			wantNet: client.Network{RequestTimeout: def.RequestTimeout, StallTimeout: min(def.RequestTimeout, def.StallTimeout), Retries: def.Retries}},
		{name: "network flags", json: true, network: true, min: 1, max: 1,
			args: []string{"st", "--timeout", "5s", "--retries", "0", "--json"}, wantPos: []string{"st"}, wantJSON: true,
			wantNet: client.Network{RequestTimeout: 5 * time.Second, StallTimeout: 5 * time.Second, Retries: -1}},
		{name: "no network flags", min: 1, max: 2, args: []string{"st", "url"}, wantPos: []string{"st", "url"}},
		{name: "help", network: true, min: 1, max: 1, args: []string{"st", "-h"}, wantErr: "help"},
		{name: "unknown flag first", network: true, min: 1, max: 1, args: []string{"--timeout", "0", "--nope"},
			wantErr: "flag provided but not defined: -nope", wantCode: ExitUsage},
		{name: "missing STATE before network", network: true, min: 1, max: 1, args: []string{"--timeout", "0"},
			wantErr: "missing STATE", wantCode: ExitUsage},
		{name: "extra argument", min: 1, max: 1, args: []string{"st", "x"}, wantErr: `unexpected argument "x"`, wantCode: ExitUsage},
		{name: "empty argument", min: 1, max: 1, args: []string{""}, wantErr: "empty argument where STATE is expected", wantCode: ExitUsage},
		{name: "zero timeout", network: true, min: 1, max: 1, args: []string{"st", "--timeout", "0s"},
			wantErr: "--timeout must be positive", wantCode: ExitUsage},
		{name: "negative retries", network: true, min: 1, max: 1, args: []string{"st", "--retries", "-1"},
			wantErr: "--retries must not be negative", wantCode: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := NewFlags("client test")
			if tt.json {
				fs.Bool("json", false, "")
			}
			var netf *networkFlags
			if tt.network {
				netf = addNetworkFlags(fs)
			}
			var stdout strings.Builder
			e, pos, nw, err := parseClient(&Env{Stdout: &stdout, Stderr: &stdout}, fs, tt.args, netf, tt.min, tt.max, "STATE")
			switch {
			case tt.wantErr == "help":
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want flag.ErrHelp", err)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ExitCode(err) != tt.wantCode {
					t.Fatalf("err = %v (exit %d), want %q (exit %d)", err, ExitCode(err), tt.wantErr, tt.wantCode)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(pos, tt.wantPos) || nw.RequestTimeout != tt.wantNet.RequestTimeout ||
				nw.StallTimeout != tt.wantNet.StallTimeout || nw.Retries != tt.wantNet.Retries {
				t.Errorf("pos %q, network %+v; want %q, %+v", pos, nw, tt.wantPos, tt.wantNet)
			}
			// DEL is escaped as \x7f in text and as \u007f in JSON.
			e.Stdout.Write([]byte("\x7f"))
			want := `\x7f`
			if tt.wantJSON {
				want = `\u007f`
			}
			if stdout.String() != want {
				t.Errorf("stdout got %q, want %q (JSON %v)", stdout.String(), want, tt.wantJSON)
			}
		})
	}
}
