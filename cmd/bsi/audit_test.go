package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/keys"
)

// publishForAudit publishes, with the bsi repo commands, a repository with
// a 2-of-3 root, webkit (webkit-26.3-a, and webkit-26.3-b withdrawn) and
// libc in 4 hash bins (libc-26.3-a), and returns its public directory.
func publishForAudit(t *testing.T, f *clientFixture) string {
	dir := t.TempDir()
	key := func(name string) string {
		p := filepath.Join(dir, name+".key")
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteKeyPair(p, priv, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r1, r2, r3, targets, snap, ts := key("root1"), key("root2"), key("root3"), key("targets"), key("snapshot"), key("timestamp")
	webkit, libc := key("webkit"), key("libc")
	ws := filepath.Join(dir, "ws")
	f.must("repo", "init", ws, "--root-key", r1+".pub", "--root-key", r2+".pub", "--root-key", r3+".pub",
		"--root-threshold", "2", "--targets-key", targets+".pub", "--snapshot-key", snap, "--timestamp-key", ts)
	f.must("repo", "delegate", ws, "--component", "webkit", "--key", webkit+".pub")
	f.must("repo", "delegate", ws, "--component", "libc", "--key", libc+".pub", "--bins", "4")
	for _, k := range []string{r1, r2, targets} {
		f.must("repo", "sign", ws, "--key", k)
	}
	add := func(component, seq, letter, signer string) {
		m := f.must("manifest", "new", "--component", component, "--platform", "macos", "--release", "26.3",
			"--sequence", seq, "--released", "2026-11-27T10:00:00Z")
		id := component + "-26.3-" + letter
		mf, pf := filepath.Join(dir, id+".json"), filepath.Join(dir, id+".tar.gz")
		os.WriteFile(mf, []byte(m), 0o644)
		os.WriteFile(pf, testrepo.TarGz(map[string]string{"lib/" + component + ".txt": id + "\n"}), 0o644)
		f.must("repo", "add", ws, "--manifest", mf, "--payload", pf, "--key", signer)
	}
	add("webkit", "1", "a", webkit)
	add("webkit", "2", "b", webkit)
	add("libc", "1", "a", libc)
	f.must("repo", "withdraw", ws, "webkit-26.3-b", "--reason", "breaks video playback", "--key", webkit)
	f.must("repo", "publish", ws)
	return filepath.Join(ws, "public")
}

// auditRun serves dir on 127.0.0.1 and runs "bsi audit URL --root
// 1.root.json --json FILE" in-process at now; it returns the exit code,
// stdout and the JSON report.
func auditRun(t *testing.T, dir string, now time.Time) (int, string, map[string]any) {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	rep := filepath.Join(t.TempDir(), "audit.json")
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	code := run(context.Background(), []string{"audit", srv.URL, "--root", filepath.Join(dir, "1.root.json"), "--json", rep}, e)
	var out map[string]any
	if b, err := os.ReadFile(rep); err == nil {
		json.Unmarshal(b, &out)
	}
	return code, stdout.String() + stderr.String(), out
}

// findings lists the "check role" of each finding of a JSON report.
func findings(rep map[string]any) []string {
	var out []string
	fs, _ := rep["findings"].([]any)
	for _, f := range fs {
		m, _ := f.(map[string]any)
		out = append(out, fmt.Sprintf("%s %s %s", m["severity"], m["check"], m["role"]))
	}
	return out
}

func TestAuditCommand(t *testing.T) {
	f := newClientFixture(t, clientStart)
	pub := publishForAudit(t, f)
	code, out, rep := auditRun(t, pub, clientStart)
	if code != exitOK {
		t.Fatalf("audit of the published repository: exit %d\n%s", code, out)
	}
	// One payload name per target: the workspace lists sha256 alone.
	if rep["targets"] != 3.0 || rep["payloads_checked"] != 3.0 || len(rep["roles"].([]any)) != 10 {
		t.Errorf("audit report: %v targets, %v payloads, %d roles; want 3, 3, 10\n%s", rep["targets"],
			rep["payloads_checked"], len(rep["roles"].([]any)), out)
	}

	meta := func(dir, role string) string { // the newest N.role.json
		var best string
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), "."+role+".json") && e.Name() > best {
				best = e.Name()
			}
		}
		return filepath.Join(dir, best)
	}
	for _, tc := range []struct {
		name    string
		code    int
		finding string // "severity check role"
		later   time.Duration
		corrupt func(dir string)
	}{
		{"tampered payload", exitSecurity, "security payload-hash webkit", 0, func(dir string) {
			ms, _ := filepath.Glob(filepath.Join(dir, "targets", "webkit", "*.webkit-26.3-a.tar.gz"))
			for _, m := range ms {
				os.WriteFile(m, []byte("evil"), 0o644)
			}
		}},
		{"removed N.webkit.json", exitFailure, "error fetch webkit", 0, func(dir string) {
			os.Remove(meta(dir, "webkit"))
		}},
		{"timestamp pointing at a missing snapshot", exitFailure, "error fetch snapshot", 0, func(dir string) {
			os.Remove(meta(dir, "snapshot"))
		}},
		// The snapshot pins length and sha256 of each role file, so the
		// edit is caught there, before any signature is checked.
		{"webkit role edited after signing", exitSecurity, "security hash webkit", 0, func(dir string) {
			p := meta(dir, "webkit")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("breaks video playback"), []byte("breaks audio playback"), 1), 0o644)
		}},
		{"timestamp left to expire", exitFreshness, "freshness expiry timestamp", 36 * time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "copy")
			if err := os.CopyFS(dir, os.DirFS(pub)); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt != nil {
				tc.corrupt(dir)
			}
			code, out, rep := auditRun(t, dir, clientStart.Add(tc.later))
			got := findings(rep)
			if code != tc.code || !strings.Contains(strings.Join(got, "\n"), tc.finding) {
				t.Errorf("exit %d, findings %q; want exit %d and %q\n%s", code, got, tc.code, tc.finding, out)
			}
		})
	}
}

// auditFixtureRun runs "bsi audit" in-process on a go-tuf fixture of
// conformance/testdata/audit (metadata and targets served apart) at now
// with extra arguments; it returns the exit code and the output.
func auditFixtureRun(t *testing.T, fixture string, now time.Time, args ...string) (int, string) {
	t.Helper()
	dir := filepath.Join("..", "..", "conformance", "testdata", "audit", fixture)
	mux := http.NewServeMux()
	mux.Handle("/metadata/", http.StripPrefix("/metadata/", http.FileServer(http.Dir(filepath.Join(dir, "metadata")))))
	mux.Handle("/targets/", http.StripPrefix("/targets/", http.FileServer(http.Dir(filepath.Join(dir, "targets")))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	code := run(context.Background(), append([]string{"audit", srv.URL + "/metadata", "--targets-url", srv.URL + "/targets",
		"--root", filepath.Join(dir, "metadata", "1.root.json")}, args...), e)
	return code, stdout.String() + stderr.String()
}

// TestAuditAt: --at judges every expiry at the given time, whatever the
// clock says; the text prints days as bsi status does, and plurals right.
func TestAuditAt(t *testing.T) {
	clock := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC) // every fixture role expired by then
	html := filepath.Join(t.TempDir(), "audit.html")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
		not  []string
	}{
		{"archived repository audited as it stood", []string{"--at", "2027-06-01T00:00:00Z", "--html", html}, exitOK,
			[]string{"945d", "2 targets, 2 payloads checked"}, []string{"h0m0s", "expired", "1 findings"}},
		{"the clock", nil, exitFreshness, []string{"expired", "-3652d"}, []string{"h0m0s"}},
		{"--at after expiry", []string{"--at", "2030-01-02T00:00:00Z"}, exitFreshness, []string{"-24h"}, nil},
		{"--at not RFC 3339", []string{"--at", "yesterday"}, exitUsage, []string{"RFC 3339"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := auditFixtureRun(t, "consistent-on", clock, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("output has %q\n%s", w, out)
				}
			}
		})
	}
	b, err := os.ReadFile(html)
	if err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("bsi.audit/v1")) {
		t.Errorf("--html wrote %d bytes (%v), want a page with the timeline", len(b), err)
	}
}
