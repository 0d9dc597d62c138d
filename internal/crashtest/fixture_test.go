package crashtest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/serve"
)

// fixture is made once per test run with the CLI: keys, two improvements
// of webkit (a and b), and three workspaces: wsA (a published), wsAdded
// (b added, not published) and wsPub (b published, served on 127.0.0.1).
type fixture struct {
	dir     string
	keys    string // directory of root, targets, snapshot, timestamp, webkit .key/.key.pub
	m2, p2  string // manifest and payload of webkit-26.3-b
	wsA     string
	wsAdded string
	wsPub   string
	url     string // wsPub/public over HTTP
}

var (
	fixMu  sync.Mutex
	fix    *fixture
	fixErr bool
)

// getFixture returns the shared fixture, making it on first use.
func getFixture(t *testing.T) *fixture {
	t.Helper()
	bsiBin(t)
	fixMu.Lock()
	defer fixMu.Unlock()
	if fixErr {
		t.Fatal("the shared fixture failed earlier")
	}
	if fix == nil {
		fixErr = true
		fix = makeFixture(t)
		fixErr = false
	}
	return fix
}

func makeFixture(t *testing.T) *fixture {
	dir := filepath.Join(binDir, "fixture")
	f := &fixture{dir: dir, keys: filepath.Join(dir, "keys")}
	if err := os.MkdirAll(f.keys, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root", "targets", "snapshot", "timestamp", "webkit"} {
		must(t, "keys", "generate", "--insecure-no-password", "--out", f.key(k))
	}
	var ms, ps [3]string
	for seq := 1; seq <= 2; seq++ {
		id := "webkit-26.3-" + string(rune('a'+seq-1))
		ms[seq] = filepath.Join(dir, id+".json")
		out := must(t, "manifest", "new", "--component", "webkit", "--platform", "macos", "--release", "26.3",
			"--sequence", string(rune('0'+seq)), "--released", "2026-01-01T00:00:00Z")
		ps[seq] = filepath.Join(dir, id+".tar.gz")
		payload := testrepo.TarGz(map[string]string{"lib/webkit.txt": id + "\n", "lib/README": "webkit " + id + "\n"})
		if err := os.WriteFile(ms[seq], []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ps[seq], payload, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.m2, f.p2 = ms[2], ps[2]

	f.wsA = filepath.Join(dir, "wsA")
	must(t, "repo", "init", f.wsA, "--root-key", f.key("root")+".pub", "--targets-key", f.key("targets")+".pub",
		"--snapshot-key", f.key("snapshot"), "--timestamp-key", f.key("timestamp"))
	must(t, "repo", "delegate", f.wsA, "--component", "webkit", "--key", f.key("webkit")+".pub")
	for _, k := range []string{"root", "targets", "webkit"} {
		must(t, "repo", "sign", f.wsA, "--key", f.key(k))
	}
	must(t, "repo", "add", f.wsA, "--manifest", ms[1], "--payload", ps[1], "--key", f.key("webkit"))
	must(t, "repo", "publish", f.wsA)

	f.wsAdded = filepath.Join(dir, "wsAdded")
	copyTree(t, f.wsA, f.wsAdded)
	must(t, f.addArgs(f.wsAdded)...)
	f.wsPub = filepath.Join(dir, "wsPub")
	copyTree(t, f.wsAdded, f.wsPub)
	must(t, "repo", "publish", f.wsPub)

	h, err := serve.NewHandler(filepath.Join(f.wsPub, "public"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.url = httptest.NewServer(h).URL // lives as long as the test process
	return f
}

func (f *fixture) key(name string) string { return filepath.Join(f.keys, name+".key") }

// addArgs is "bsi repo add" of webkit-26.3-b to ws, signed at once.
func (f *fixture) addArgs(ws string) []string {
	return []string{"repo", "add", ws, "--manifest", f.m2, "--payload", f.p2, "--key", f.key("webkit")}
}

// initDevice makes a device state at dir following url, trusting the
// first root of the repository.
func (f *fixture) initDevice(t *testing.T, dir, url string) {
	t.Helper()
	must(t, "client", "init", dir, "--root", filepath.Join(f.wsA, "public", "1.root.json"), "--url", url,
		"--platform", "macos", "--release", "26.3", "--build", "25D125")
}

// swapHandler serves a published tree that a test replaces between runs
// (serve.Handler holds the directory open, so each copy needs its own).
type swapHandler struct {
	mu sync.Mutex
	h  *serve.Handler
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

// serveDir makes the handler serve dir from now on.
func (s *swapHandler) serveDir(t *testing.T, dir string) {
	t.Helper()
	h, err := serve.NewHandler(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	old := s.h
	s.h = h
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
}
