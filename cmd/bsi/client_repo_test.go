package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/keys"
)

// TestClientAgainstPublishedRepository is the whole life of an improvement
// through the real publisher: keys, bsi repo init/delegate/add/sign/publish,
// the published tree served over loopback, then bsi client init/check/
// install; a withdrawal published by bsi repo rolls the device back.
func TestClientAgainstPublishedRepository(t *testing.T) {
	f := newClientFixture(t, clientStart)
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
	root, targets, snap, ts, webkit := key("root"), key("targets"), key("snapshot"), key("timestamp"), key("webkit")
	ws := filepath.Join(dir, "ws")
	f.must("repo", "init", ws, "--root-key", root+".pub", "--targets-key", targets+".pub",
		"--snapshot-key", snap, "--timestamp-key", ts)
	f.must("repo", "delegate", ws, "--component", "webkit", "--key", webkit+".pub")
	for _, k := range []string{root, targets} {
		f.must("repo", "sign", ws, "--key", k)
	}
	add := func(seq string) {
		m := f.must("manifest", "new", "--component", "webkit", "--platform", "macos", "--release", "26.3",
			"--sequence", seq, "--released", "2026-11-27T10:00:00Z")
		mf := filepath.Join(dir, "m"+seq+".json")
		pf := filepath.Join(dir, "p"+seq+".tar.gz")
		os.WriteFile(mf, []byte(m), 0o644)
		id := "webkit-26.3-" + map[string]string{"1": "a", "2": "b"}[seq]
		os.WriteFile(pf, testrepo.TarGz(map[string]string{"lib/webkit.txt": id + "\n"}), 0o644)
		f.must("repo", "add", ws, "--manifest", mf, "--payload", pf, "--key", webkit)
	}
	add("1")
	add("2")
	f.must("repo", "publish", ws)
	pub := filepath.Join(ws, "public")
	srv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	defer srv.Close()

	f.must("client", "init", f.state, "--root", filepath.Join(pub, "1.root.json"), "--url", srv.URL,
		"--platform", "macos", "--release", "26.3")
	out := f.must("client", "check", f.state)
	if !strings.Contains(out, "webkit-26.3-b 26.3 (b)") {
		t.Errorf("check against the published repository:\n%s", out)
	}
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", "webkit-26.3-b")

	f.must("repo", "withdraw", ws, "webkit-26.3-b", "--reason", "breaks video playback", "--key", webkit)
	f.must("repo", "publish", ws)
	out = f.must("client", "install", f.state, "--all")
	if !strings.Contains(out, "rolled back webkit: webkit-26.3-b -> webkit 26.3 (a) webkit-26.3-a") {
		t.Errorf("install after the withdrawal:\n%s", out)
	}
	f.wantCurrent("webkit", "webkit-26.3-a")
}
