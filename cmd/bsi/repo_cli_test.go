package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

// repoCLI runs bsi commands in-process in a temporary directory.
type repoCLI struct {
	t   *testing.T
	dir string
	now time.Time
}

func newRepoCLI(t *testing.T) *repoCLI {
	c := &repoCLI{t: t, dir: t.TempDir(), now: time.Now().UTC().Truncate(time.Second)}
	for _, name := range []string{"root1", "root2", "targets", "snapshot", "timestamp", "timestamp2", "webkit"} {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteKeyPair(c.path(name+".key"), priv, nil); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *repoCLI) path(name string) string { return filepath.Join(c.dir, name) }

// run executes one command line and returns exit code, stdout, stderr.
func (c *repoCLI) run(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Now: func() time.Time { return c.now }, Logger: devicecli.OSEnv().Logger}
	code := run(ctx, args, e)
	return code, out.String(), errb.String()
}

func (c *repoCLI) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(context.Background(), args...)
	if code != 0 {
		c.t.Fatalf("bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *repoCLI) fail(want int, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(context.Background(), args...)
	if code != want {
		c.t.Fatalf("bsi %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errs)
	}
	return errs
}

func (c *repoCLI) improvement(id string, seq int) (string, string) {
	m := manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "fix", Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: seq, Severity: manifest.SeverityHigh,
		Released: "2026-01-02T03:04:05Z", Status: manifest.StatusActive}
	b, err := m.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	mp := c.path(id + ".json")
	os.WriteFile(mp, b, 0o644)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "lib/x.dylib", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte(id[:3]))
	tw.Close()
	gz.Close()
	pp := c.path(id + ".tar.gz")
	os.WriteFile(pp, buf.Bytes(), 0o644)
	return mp, pp
}

func TestRepoCommandsMainFlow(t *testing.T) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-key", k("root2")+".pub", "--root-threshold", "2",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"),
		"--expires", "timestamp=12h")
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))

	// Publishing now fails and says who must sign.
	errs := c.fail(exitFailure, "repo", "publish", ws)
	if !strings.Contains(errs, "root v1 needs 2 more signature(s)") || !strings.Contains(errs, "bsi: hint: sign with") {
		t.Fatalf("publish error: %s", errs)
	}

	// Root 1 signs offline: export, sign the file, import.
	c.ok("repo", "export-role", ws, "--role", "root", "--out", c.path("root.json"), "--canonical", c.path("root.payload"))
	c.ok("repo", "sign", "--file", c.path("root.json"), "--key", k("root1"))
	if out := c.ok("repo", "import-signature", ws, "--role", "root", "--file", c.path("root.json")); !strings.Contains(out, "imported 1") {
		t.Fatal(out)
	}
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	// An unauthorised key is refused with the security exit code.
	c.fail(exitSecurity, "repo", "sign", ws, "--key", k("webkit"), "--role", "targets")

	out := c.ok("repo", "publish", ws, "--json")
	var res repo.PublishResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.TimestampVersion != 1 || len(res.Written) == 0 {
		t.Fatalf("publish: %s", out)
	}
	for _, f := range []string{"1.root.json", "1.targets.json", "1.webkit.json", "1.snapshot.json", "timestamp.json"} {
		if _, err := os.Stat(filepath.Join(ws, "public", f)); err != nil {
			t.Error(err)
		}
	}
	if out := c.ok("repo", "publish", ws); !strings.Contains(out, "0 file(s) written") {
		t.Fatalf("unchanged publish: %s", out)
	}

	var st []repo.RoleStatus
	if err := json.Unmarshal([]byte(c.ok("repo", "status", ws, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st {
		if r.Pending || r.Unsigned || r.Signatures < r.Threshold {
			t.Errorf("after publish: %+v", r)
		}
	}
	if out := c.ok("repo", "status", ws); !strings.Contains(out, "webkit") || !strings.Contains(out, "2/2") {
		t.Fatalf("status:\n%s", out)
	}

	// Withdraw, list.
	c.ok("repo", "withdraw", ws, "webkit-26.3-a", "--reason", "breaks video", "--key", k("webkit"))
	var list []repo.Improvement
	if err := json.Unmarshal([]byte(c.ok("repo", "list", ws, "--json")), &list); err != nil || len(list) != 1 ||
		list[0].Manifest.Status != manifest.StatusWithdrawn || !list[0].Pending {
		t.Fatalf("list: %v %+v", err, list)
	}
	if out := c.ok("repo", "list", ws); !strings.Contains(out, "withdrawn: breaks video") {
		t.Fatalf("list:\n%s", out)
	}
	c.ok("repo", "publish", ws)

	// Rotate the timestamp key: root v2 needs both root keys again.
	c.ok("repo", "rotate", ws, "--role", "timestamp", "--add-key", k("timestamp2"), "--remove-key", st[len(st)-1].KeyIDs[0][:12])
	c.fail(exitFailure, "repo", "publish", ws)
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "publish", ws)
	if _, err := os.Stat(filepath.Join(ws, "public", "2.root.json")); err != nil {
		t.Fatal(err)
	}

	// Refresh and keep-fresh.
	c.now = c.now.Add(6 * time.Hour)
	if out := c.ok("repo", "refresh", ws); !strings.Contains(out, "timestamp v") {
		t.Fatal(out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code, _, errs := c.run(ctx, "repo", "keep-fresh", ws, "--interval", "1h"); code != 0 {
		t.Fatalf("keep-fresh: %d %s", code, errs)
	}
	c.fail(exitUsage, "repo", "keep-fresh", ws)
	c.fail(exitFailure, "repo", "keep-fresh", ws, "--interval", "1d")
}

func TestRepoCommandsHelp(t *testing.T) {
	c := newRepoCLI(t)
	for _, cmd := range repoCommands() {
		out := c.ok(append(strings.Fields(cmd.Name), "-h")...)
		if !strings.Contains(out, "Example") {
			t.Errorf("%s: help has no example", cmd.Name)
		}
	}
}

// TestRepoHashes: repo init --hashes and repo hashes --set choose the
// hashes new improvements list; a bad list is a usage error.
func TestRepoHashes(t *testing.T) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	init := []string{"repo", "init", ws, "--root-key", k("root1") + ".pub", "--targets-key", k("targets") + ".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp")}
	c.fail(exitUsage, append(init, "--hashes", "sha512")...)
	c.ok(append(init, "--hashes", "sha512,sha256")...)
	if out := c.ok("repo", "hashes", ws); out != "sha256,sha512\n" {
		t.Fatalf("repo hashes: %q", out)
	}
	c.fail(exitUsage, "repo", "hashes", ws, "--set", "sha256,md5")
	if out := c.ok("repo", "hashes", ws, "--set", "sha256"); out != "sha256\n" {
		t.Fatalf("repo hashes --set sha256: %q", out)
	}
	if out := c.ok("repo", "hashes", ws); out != "sha256\n" {
		t.Fatalf("repo hashes after --set: %q", out)
	}
}
