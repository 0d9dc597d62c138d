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

// TestClientOnItsOwn is "go run ./examples/client" with no flags: it
// publishes, serves, and installs both improvements.
func TestClientOnItsOwn(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"no --url: published an example repository",
		"verified timestamp v1, snapshot v1",
		"install  safari -> safari 26.3 (a) safari-26.3-a",
		"installed safari 26.3 (a) safari-26.3-a",
		"installed webkit 26.3 (a) webkit-26.3-a",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// published publishes and serves a quickrepo repository for one test.
func published(t *testing.T) (public, url string) {
	t.Helper()
	public, err := quickrepo.Publish(context.Background(), t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := quickrepo.Serve(context.Background(), public)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return public, url
}

// TestClientAgainstRepository: with --url and --root the example is a
// device of that repository, and the payloads land under the install root.
func TestClientAgainstRepository(t *testing.T) {
	public, url := published(t)
	state := filepath.Join(t.TempDir(), "state")
	args := []string{"--url", url, "--root", filepath.Join(public, "1.root.json"), "--state", state}
	if err := run(context.Background(), args, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(state, "root", "webkit", "current", "README"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "webkit: background security improvement webkit-26.3-a\n"; string(b) != want {
		t.Errorf("installed README = %q, want %q", b, want)
	}
	// A device on another release installs nothing.
	state2 := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	if err := run(context.Background(), append(args[:4:4], "--state", state2, "--release", "26.2"), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "installed ") {
		t.Errorf("a device on 26.2 installed 26.3 improvements:\n%s", out.String())
	}
}

// TestClientRefusesTamperedPayload: webkit's payloads changed on the server
// fail their hashes; the example reports a security error and installs no
// webkit improvement, while the other components, whose payloads verify,
// are installed (decisions are per component).
func TestClientRefusesTamperedPayload(t *testing.T) {
	public, url := published(t)
	payloads, err := filepath.Glob(filepath.Join(public, "targets", "webkit", "*.tar.gz"))
	if err != nil || len(payloads) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	for _, p := range payloads {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(t.TempDir(), "state")
	err = run(context.Background(), []string{"--url", url, "--root", filepath.Join(public, "1.root.json"), "--state", state}, io.Discard)
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("err = %v, want a security error", err)
	}
	for _, c := range quickrepo.Components {
		_, err := os.Lstat(filepath.Join(state, "root", c, "current"))
		switch {
		case c == "webkit" && err == nil:
			t.Errorf("webkit was installed although its payload failed verification")
		case c != "webkit" && err != nil:
			t.Errorf("%s was not installed although only webkit's payload failed: %v", c, err)
		}
	}
}

func TestClientBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--url", "http://127.0.0.1:1"}, {"--root", "r.json"}, {"--nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
