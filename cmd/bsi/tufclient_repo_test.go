package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/bsiframework/bsi/serve"
)

// TestTUFClientFollowsBsiRepo: bsi tuf-client, the verifying core on its
// own, follows a repository made and published by the bsi repo commands —
// a delegated component, a component in hash bins, a withdrawal and a
// timestamp key rotation — and downloads payloads byte for byte.
func TestTUFClientFollowsBsiRepo(t *testing.T) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-key", k("root2")+".pub", "--root-threshold", "2",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub", "--bins", "16")
	mA, pA := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", mA, "--payload", pA, "--key", k("webkit"))
	for _, key := range []string{"root1", "root2", "targets", "webkit"} {
		c.ok("repo", "sign", ws, "--key", k(key))
	}
	c.ok("repo", "publish", ws)

	h, err := serve.NewHandler(filepath.Join(ws, "public"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	md, td := c.path("md"), c.path("td")
	tuf := func(args ...string) {
		t.Helper()
		base := []string{"tuf-client", "--metadata-dir", md, "--metadata-url", srv.URL,
			"--target-dir", td, "--target-base-url", srv.URL + "/targets"}
		if code, out, errs := c.run(t.Context(), append(base, args...)...); code != 0 {
			t.Fatalf("tuf-client %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	root, err := os.ReadFile(filepath.Join(ws, "public", "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(c.path("root.json"), root, 0o644)
	if code, _, errs := c.run(t.Context(), "tuf-client", "--metadata-dir", md, "init", c.path("root.json")); code != 0 {
		t.Fatal(errs)
	}
	download := func(id string, payload string) {
		t.Helper()
		tuf("--target-name", "webkit/"+id+".tar.gz", "download")
		got, err := os.ReadFile(filepath.Join(td, url.PathEscape("webkit/"+id+".tar.gz")))
		if err != nil {
			entries, _ := os.ReadDir(td)
			t.Fatalf("%v (target dir holds %v)", err, entries)
		}
		want, _ := os.ReadFile(payload)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: downloaded %d bytes differ from the published payload (%d)", id, len(got), len(want))
		}
	}
	download("webkit-26.3-a", pA)

	// A second improvement, a withdrawal, and a rotated timestamp key: the
	// client follows root v2 and the new timestamp key.
	mB, pB := c.improvement("webkit-26.3-b", 2)
	c.ok("repo", "add", ws, "--manifest", mB, "--payload", pB, "--key", k("webkit"))
	c.ok("repo", "withdraw", ws, "webkit-26.3-a", "--reason", "breaks video", "--key", k("webkit"))
	c.ok("repo", "publish", ws)
	var st []struct {
		Role   string   `json:"role"`
		KeyIDs []string `json:"key_ids"`
	}
	decodeJSON(t, c.ok("repo", "status", ws, "--json"), &st)
	tsKey := ""
	for _, r := range st {
		if r.Role == "timestamp" {
			tsKey = r.KeyIDs[0]
		}
	}
	c.ok("repo", "rotate", ws, "--role", "timestamp", "--add-key", k("timestamp2"), "--remove-key", tsKey[:12])
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "publish", ws)
	tuf("refresh")
	for _, f := range []string{"root.json", "timestamp.json", "snapshot.json", "targets.json", "webkit.json"} {
		if _, err := os.Stat(filepath.Join(md, f)); err != nil {
			t.Errorf("metadata dir: %v", err)
		}
	}
	stored, _ := os.ReadFile(filepath.Join(md, "root.json"))
	published, _ := os.ReadFile(filepath.Join(ws, "public", "2.root.json"))
	if !bytes.Equal(stored, published) {
		t.Fatal("the client did not store root v2 as the exact published bytes")
	}
	download("webkit-26.3-b", pB)
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
}
