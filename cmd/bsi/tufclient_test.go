package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// tufRepo writes a small consistent-snapshot repository (one key per
// top-level role, a delegated role "x?y" for "d/*") into a directory and
// serves it over loopback.
func tufRepo(t *testing.T, now time.Time, targets map[string]string) (srv *httptest.Server, rootFile string) {
	t.Helper()
	dir := t.TempDir()
	md, tg := filepath.Join(dir, "metadata"), filepath.Join(dir, "targets")
	os.MkdirAll(md, 0o755)
	os.MkdirAll(filepath.Join(tg, "d"), 0o755)
	signers := map[string]signature.Signer{}
	root := metadata.Root(now.AddDate(1, 0, 0))
	root.Signed.ConsistentSnapshot = true
	newKey := func() (*metadata.Key, signature.Signer) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, err := signature.LoadSigner(priv, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		k, _ := metadata.KeyFromPublicKey(pub)
		return k, s
	}
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		k, s := newKey()
		signers[role] = s
		root.Signed.AddKey(k, role)
	}
	top := metadata.Targets(now.AddDate(0, 3, 0))
	dk, ds := newKey()
	did, _ := dk.ID()
	top.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{did: dk},
		Roles: []metadata.DelegatedRole{{Name: "x?y", KeyIDs: []string{did}, Threshold: 1, Paths: []string{"d/*"}}}}
	deleg := metadata.Targets(now.AddDate(0, 3, 0))
	for p, body := range targets {
		tf, _ := metadata.TargetFile().FromBytes(p, []byte(body), "sha256")
		name := hex.EncodeToString(tf.Hashes["sha256"]) + "." + filepath.Base(p)
		if strings.HasPrefix(p, "d/") {
			deleg.Signed.Targets[p] = tf
			name = "d/" + name
		} else {
			top.Signed.Targets[p] = tf
		}
		os.WriteFile(filepath.Join(tg, name), []byte(body), 0o644)
	}
	write := func(name string, b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(md, name), b, 0o644)
	}
	sign := func(s signature.Signer, f func(bool) ([]byte, error), sig func(signature.Signer) (*metadata.Signature, error)) ([]byte, error) {
		if _, err := sig(s); err != nil {
			return nil, err
		}
		return f(true)
	}
	b, err := sign(signers["root"], root.ToBytes, root.Sign)
	write("1.root.json", b, err)
	rootFile = filepath.Join(dir, "root.json")
	os.WriteFile(rootFile, b, 0o644)
	b, err = sign(signers["targets"], top.ToBytes, top.Sign)
	write("1.targets.json", b, err)
	b, err = sign(ds, deleg.ToBytes, deleg.Sign)
	write("1.x?y.json", b, err)
	snap := metadata.Snapshot(now.AddDate(0, 0, 7))
	snap.Signed.Meta["x?y.json"] = metadata.MetaFile(1)
	b, err = sign(signers["snapshot"], snap.ToBytes, snap.Sign)
	write("1.snapshot.json", b, err)
	ts := metadata.Timestamp(now.AddDate(0, 0, 1))
	b, err = sign(signers["timestamp"], ts.ToBytes, ts.Sign)
	write("timestamp.json", b, err)
	srv = httptest.NewServer(http.StripPrefix("/repo", http.FileServer(http.Dir(dir))))
	t.Cleanup(srv.Close)
	return srv, rootFile
}

func runTUF(t *testing.T, now time.Time, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return run(context.Background(), append([]string{"tuf-client"}, args...), e), stderr.String()
}

func dirNames(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestTUFClientProtocol(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	srv, rootFile := tufRepo(t, now, map[string]string{"top.txt": "top", "d/a b.txt": "delegated"})
	md, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	url := srv.URL + "/repo/metadata"
	turl := srv.URL + "/repo/targets"

	if code, errs := runTUF(t, now, "init", "--metadata-dir", md, rootFile); code != 0 {
		t.Fatalf("init: %d %s", code, errs)
	}
	if code, errs := runTUF(t, now, "--metadata-url", url, "--metadata-dir", md, "refresh"); code != 0 {
		t.Fatalf("refresh: %d %s", code, errs)
	}
	code, errs := runTUF(t, now, "--metadata-url", url, "--metadata-dir", md, "--target-name", "top.txt",
		"--target-name", "d/a b.txt", "--target-dir", out, "--target-base-url", turl, "download")
	if code != 0 {
		t.Fatalf("download: %d %s", code, errs)
	}
	if got, want := dirNames(t, out), []string{"d%2Fa%20b.txt", "top.txt"}; !slices.Equal(got, want) {
		t.Errorf("target dir %q, want %q", got, want)
	}
	var jsons []string
	for _, n := range dirNames(t, md) {
		if strings.HasSuffix(n, ".json") {
			jsons = append(jsons, n)
		}
	}
	if want := []string{"root.json", "snapshot.json", "targets.json", "timestamp.json", "x%3Fy.json"}; !slices.Equal(jsons, want) {
		t.Errorf("metadata dir %q, want %q", jsons, want)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "d%2Fa%20b.txt")); string(b) != "delegated" {
		t.Errorf("downloaded %q", b)
	}

	// Failures exit 1, never 2, 3 or 4.
	for name, args := range map[string][]string{
		"unknown target": {"--metadata-url", url, "--metadata-dir", md, "--target-name", "none", "--target-dir", out, "--target-base-url", turl, "download"},
		"expired":        {"--metadata-url", url, "--metadata-dir", md, "refresh"},
		"bad flag":       {"--no-such-flag", "refresh"},
		"no command":     {"--metadata-dir", md},
		"bad command":    {"--metadata-dir", md, "frob"},
		"bad root":       {"--metadata-dir", t.TempDir(), "init", filepath.Join(md, "timestamp.json")},
		"no server":      {"--metadata-url", "http://127.0.0.1:1/x", "--metadata-dir", md, "refresh"},
	} {
		when := now
		if name == "expired" {
			when = now.AddDate(0, 0, 2)
		}
		if code, errs := runTUF(t, when, args...); code != 1 || !strings.Contains(errs, "bsi: error:") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errs)
		}
	}
	if got := dirNames(t, out); len(got) != 2 {
		t.Errorf("failures left files in the target dir: %q", got)
	}
}
