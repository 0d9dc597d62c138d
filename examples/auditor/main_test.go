package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/examples/internal/quickrepo"
	"github.com/bsiframework/bsi/trust"
)

// TestMain lets the test binary be the client under test, as the example's
// own binary is: "TESTBINARY tuf-client ARGS...".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == adapterCommand {
		os.Exit(adapterMain(context.Background(), os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestAuditorOnItsOwn is "go run ./examples/auditor" with one group of
// scenarios (the whole suite is bsi conformance's own test): the adapter
// over trust/client passes them, and the example repository audits clean.
func TestAuditorOnItsOwn(t *testing.T) {
	var out bytes.Buffer
	junit := filepath.Join(t.TempDir(), "j.xml")
	err := run(context.Background(), []string{"--group", "rollback", "--junit", junit}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if b, err := os.ReadFile(junit); err != nil || !bytes.Contains(b, []byte("<testsuite")) {
		t.Errorf("JUnit report: %v %.200s", err, b)
	}
	for _, want := range []string{
		"0 failed", "rollback",
		"no --url: auditing an example repository",
		"2 targets, 2 payloads checked",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestAuditorCatchesABrokenClient: a "client" that succeeds at everything
// (it verifies nothing) fails the scenarios, and run says which.
func TestAuditorCatchesABrokenClient(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--client", "true", "--group", "rollback", "--no-audit"}, &out)
	if err == nil || !strings.Contains(err.Error(), "rollback/") {
		t.Fatalf("err = %v, want the failed rollback scenarios named\n%s", err, out.String())
	}
}

// TestAuditorFindsATamperedPayload: the audit of a repository whose
// payload was altered on the server is a security finding.
func TestAuditorFindsATamperedPayload(t *testing.T) {
	ctx := context.Background()
	public, err := quickrepo.Publish(ctx, t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := filepath.Glob(filepath.Join(public, "targets", "safari", "*.tar.gz"))
	if err != nil || len(payloads) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	b, err := os.ReadFile(payloads[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(payloads[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	url, stop, err := quickrepo.Serve(ctx, public)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var out bytes.Buffer
	err = run(ctx, []string{"--no-suite", "--url", url, "--root", filepath.Join(public, "1.root.json")}, &out)
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("err = %v, want a security finding\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "safari") {
		t.Errorf("the report does not name safari:\n%s", out.String())
	}
}

func TestAuditorBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--url", "http://127.0.0.1:1"}, {"--nope"}, {"extra"}, {"--client", "'unclosed", "--no-audit"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestAdapterRefusesBadCommandLines: the adapter exits 1, never 0, on a
// command line it does not understand.
func TestAdapterRefusesBadCommandLines(t *testing.T) {
	for _, args := range [][]string{nil, {"init", "r.json"}, {"--metadata-dir", "d", "fly"}, {"--metadata-dir", "d", "init"}, {"--nope"}} {
		if code := adapterMain(context.Background(), args, io.Discard); code != 1 {
			t.Errorf("adapter %q: exit %d, want 1", args, code)
		}
	}
}

func TestLocalName(t *testing.T) {
	for in, want := range map[string]string{
		"webkit/a.tar.gz": "webkit%2Fa.tar.gz",
		"../../etc/x":     "%2E.%2F..%2Fetc%2Fx",
		".hidden":         "%2Ehidden",
		"a b":             "a%20b",
	} {
		if got := localName(in); got != want {
			t.Errorf("localName(%q) = %q, want %q", in, got, want)
		}
	}
}
