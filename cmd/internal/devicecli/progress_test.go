package devicecli

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/manifest"
)

// tickingTerminal is progress options for tests: a terminal whose clock
// moves one second at each reading, so that every change is drawn whatever
// the machine's speed.
func tickingTerminal() progress.Options {
	var mu sync.Mutex
	t := time.Unix(1e9, 0)
	return progress.Options{Terminal: true, Interval: time.Second, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}}
}

func TestDownloadName(t *testing.T) {
	h64, h128 := strings.Repeat("ab", 32), strings.Repeat("0f", 64)
	for in, want := range map[string]string{
		"/targets/webkit/" + h64 + ".webkit-26.3-a.tar.gz":  "webkit-26.3-a.tar.gz",
		"/targets/webkit/" + h128 + ".webkit-26.3-a.tar.gz": "webkit-26.3-a.tar.gz",
		"/targets/webkit/webkit-26.3-a.tar.gz":              "webkit-26.3-a.tar.gz",
		"/targets/webkit/abc.webkit-26.3-a.tar.gz":          "abc.webkit-26.3-a.tar.gz",
		"/targets/" + strings.Repeat("zz", 32) + ".x":       strings.Repeat("zz", 32) + ".x",
	} {
		if got := downloadName(in); got != want {
			t.Errorf("downloadName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProgressTransport: a download over 1 MiB is drawn up to 100%; a
// smaller one and a failed one draw nothing; the bytes read are unchanged.
func TestProgressTransport(t *testing.T) {
	big := make([]byte, 3<<20)
	rand.Read(big)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big.tar.gz":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/chunked.tar.gz":
			w.Write(big) // no Content-Length: sent chunked
		case "/small.json":
			w.Write([]byte("{}"))
		default:
			http.Error(w, strings.Repeat("x", 2<<20), http.StatusNotFound)
		}
	}))
	defer srv.Close()
	var stderr bytes.Buffer
	e := &Env{Stderr: &stderr, Logger: slog.New(slog.NewTextHandler(&stderr, nil))}
	var opts agent.Options
	opts.Logger = e.Logger
	WithClientProgress(e, &opts, tickingTerminal())
	get := func(p string) []byte {
		resp, err := opts.HTTPClient.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	get("/small.json")
	get("/missing")
	if stderr.Len() != 0 {
		t.Fatalf("small or failed downloads drew %q", stderr.String())
	}
	if !bytes.Equal(get("/big.tar.gz"), big) {
		t.Fatal("the bar changed the bytes read")
	}
	out := stderr.String()
	if !strings.HasPrefix(out, "\rdownloading big.tar.gz [") || !strings.HasSuffix(out, "100%  3.0 MiB / 3.0 MiB\n") {
		t.Errorf("bar = %q", out)
	}
	// Of unknown length: a counter, once 1 MiB has come.
	stderr.Reset()
	get("/chunked.tar.gz")
	out = stderr.String()
	if !strings.HasPrefix(out, "\rdownloading chunked.tar.gz 1.") || !strings.HasSuffix(out, "downloading chunked.tar.gz 3.0 MiB\n") {
		t.Errorf("counter = %q", out)
	}
	// A log line erases the bar first (none is on screen now: it ended).
	stderr.Reset()
	opts.Logger.Warn("careful")
	if !strings.HasPrefix(stderr.String(), "time=") {
		t.Errorf("log line = %q", stderr.String())
	}
}

// TestNoProgressWhenNotTerminal: without a terminal the agent keeps
// trust/client's own HTTP client and logger.
func TestNoProgressWhenNotTerminal(t *testing.T) {
	e := &Env{Stderr: &bytes.Buffer{}, Logger: slog.New(slog.DiscardHandler)}
	opts := agent.Options{Logger: e.Logger}
	WithClientProgress(e, &opts, progress.Options{Terminal: StderrTerminal(e.Stderr)})
	if opts.HTTPClient != nil || opts.Logger != e.Logger {
		t.Errorf("options changed for a non-terminal: %+v", opts)
	}
}

// bigDevice is a repository on 127.0.0.1 listing webkit (a) for macos
// 26.3 with an incompressible 2 MiB payload, and the state directory of a
// device made for it by "bsi client init".
type bigDevice struct {
	state string
	now   func() time.Time
}

func newBigDevice(t *testing.T) *bigDevice {
	t.Helper()
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d := &bigDevice{state: filepath.Join(t.TempDir(), "state"), now: func() time.Time { return start }}
	r, err := testrepo.New(d.now, "webkit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: "webkit-26.3-a", Title: "fix", Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: 1, Severity: manifest.SeverityHigh,
		Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive,
	}
	custom, err := m.Custom()
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 2<<20)
	rand.Read(noise)
	payload := testrepo.TarGz(map[string]string{"lib/webkit.txt": m.ID + "\n", "lib/WebKit.dylib": string(noise)})
	if err := r.AddTarget("webkit", "webkit/"+m.ID+".tar.gz", payload, custom); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, r.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := d.run("client", "init", d.state, "--root", root, "--url", r.URL(), "--platform", "macos", "--release", "26.3"); code != 0 {
		t.Fatalf("client init: exit %d\n%s%s", code, out, errOut)
	}
	return d
}

// run runs one command line of the device commands in-process, stderr a
// buffer (not a terminal).
func (d *bigDevice) run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	e := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: d.now, Logger: slog.New(slog.DiscardHandler)}
	code := (&Program{Name: "bsi", Commands: Commands("bsi")}).Run(context.Background(), args, e)
	return code, stdout.String(), stderr.String()
}

// wantWebKit checks that the install root serves webkit (a).
func (d *bigDevice) wantWebKit(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.state, "root", "webkit", "current", "lib", "webkit.txt"))
	if got := strings.TrimSpace(string(b)); err != nil || got != "webkit-26.3-a" {
		t.Errorf("webkit: current %q (%v), want webkit-26.3-a", got, err)
	}
}

// TestClientInstallProgress installs a 2 MiB payload through the agent with
// the options "bsi client install" builds on a terminal: the bar is drawn,
// and the install is the same as without it.
func TestClientInstallProgress(t *testing.T) {
	d := newBigDevice(t)
	var stderr bytes.Buffer
	e := &Env{Stderr: &stderr, Logger: slog.New(slog.DiscardHandler)}
	opts := agent.Options{State: d.state, Now: d.now, Logger: e.Logger}
	WithClientProgress(e, &opts, tickingTerminal())
	ctx := context.Background()
	a, err := agent.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, rep, nil); err != nil {
		t.Fatal(err)
	}
	d.wantWebKit(t)
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	// testrepo sends payloads chunked (bsi serve sends their length): the
	// bar counts up to the whole payload.
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "\rdownloading webkit-26.3-a.tar.gz ") || !strings.HasSuffix(lines[0], " 2.0 MiB") {
		t.Errorf("stderr = %q, want one bar up to 2.0 MiB", stderr.String())
	}
}

// TestClientInstallNoBarInPipe: the same install through "bsi client
// install" with stderr not a terminal writes no bar at all.
func TestClientInstallNoBarInPipe(t *testing.T) {
	d := newBigDevice(t)
	code, out, errOut := d.run("client", "install", d.state, "--all")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(errOut, "\r") || strings.Contains(errOut, "downloading") {
		t.Errorf("stderr of a non-terminal has a bar: %q", errOut)
	}
	d.wantWebKit(t)
}
