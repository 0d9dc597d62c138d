package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/trust/repo"
)

// oneJSON decodes out as exactly one JSON object into v.
func oneJSON(t *testing.T, what, out string, v any) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(out))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: not one JSON object: %v\n%s", what, err, out)
	}
	if d.More() {
		t.Fatalf("%s: more than one JSON value on stdout:\n%s", what, out)
	}
}

// repoOpsWorkspace makes a workspace with root (2 of 2), targets, the
// online keys and webkit delegated, nothing signed yet.
func repoOpsWorkspace(t *testing.T) (*repoCLI, string, func(string) string) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-key", k("root2")+".pub", "--root-threshold", "2",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	return c, ws, k
}

// TestRepoSigningCommandsJSON: every signing command's --json prints one
// JSON object holding the summary shown and the command's result (old
// code: only the summary, one object per confirmation, and no result);
// publish --json lists "written": [] when nothing was written (old code:
// null); refresh takes --json (old code: an unknown flag).
func TestRepoSigningCommandsJSON(t *testing.T) {
	c, ws, k := repoOpsWorkspace(t)
	m, p := c.improvement("webkit-26.3-a", 1)

	var add struct {
		Summary repo.Summary
		Result  repo.Improvement
	}
	oneJSON(t, "add", c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"), "--json"), &add)
	if add.Result.ID != "webkit-26.3-a" || add.Result.Role != "webkit" || len(add.Summary.Roles) != 1 ||
		add.Summary.Roles[0].Role != "webkit" || len(add.Summary.Roles[0].Improvements) != 1 {
		t.Errorf("add --json: %+v", add)
	}

	type signed struct {
		Summary repo.Summary
		Result  signResult
	}
	var s1 signed
	oneJSON(t, "sign", c.ok("repo", "sign", ws, "--key", k("root1"), "--json"), &s1)
	if len(s1.Result.Signed) != 1 || s1.Result.Signed[0] != "root" || len(s1.Summary.Roles) != 1 {
		t.Errorf("sign --json: %+v", s1)
	}
	var s2 signed
	oneJSON(t, "sign again", c.ok("repo", "sign", ws, "--key", k("root1"), "--json"), &s2)
	if s2.Result.Signed == nil || len(s2.Result.Signed) != 0 {
		t.Errorf("sign again --json: want \"signed\": [], got %+v", s2)
	}
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "sign", ws, "--key", k("targets"))

	var pub repo.PublishResult
	oneJSON(t, "publish", c.ok("repo", "publish", ws, "--json"), &pub)
	out := c.ok("repo", "publish", ws, "--json")
	if !strings.Contains(out, `"written": []`) {
		t.Errorf("unchanged publish --json: want \"written\": [], got\n%s", out)
	}
	oneJSON(t, "publish again", out, &pub)

	var wd struct {
		Summary repo.Summary
		Result  withdrawResult
	}
	oneJSON(t, "withdraw", c.ok("repo", "withdraw", ws, "webkit-26.3-a", "--reason", "breaks video", "--key", k("webkit"), "--json"), &wd)
	if wd.Result != (withdrawResult{Withdrawn: "webkit-26.3-a", Reason: "breaks video", Signed: true}) || len(wd.Summary.Roles) != 1 {
		t.Errorf("withdraw --json: %+v", wd)
	}

	var rot struct {
		Summary repo.Summary
		Result  rotateResult
	}
	ts2, err := os.ReadFile(k("timestamp2") + ".pub")
	if err != nil || len(ts2) == 0 {
		t.Fatal(err)
	}
	oneJSON(t, "rotate", c.ok("repo", "rotate", ws, "--role", "timestamp", "--add-key", k("timestamp2"), "--json"), &rot)
	if rot.Result.Role != "timestamp" || len(rot.Result.KeyIDs) != 2 || rot.Result.Threshold != 1 || len(rot.Summary.Roles) != 1 {
		t.Errorf("rotate --json: %+v", rot)
	}
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "publish", ws)

	var ref repo.PublishResult
	oneJSON(t, "refresh", c.ok("repo", "refresh", ws, "--json"), &ref)
	if ref.TimestampExpires.IsZero() || ref.Written == nil {
		t.Errorf("refresh --json: %+v", ref)
	}
}

// TestRepoStatusKeys: status --keys lists each role's keys with ids, type,
// scheme, threshold and the online keys' files; a rotation that names a
// key the role does not have lists the role's keys (old code: no --keys
// flag, and the rotate error named only the bad id).
func TestRepoStatusKeys(t *testing.T) {
	c, ws, k := repoOpsWorkspace(t)
	var st []repo.RoleStatus
	if err := json.Unmarshal([]byte(c.ok("repo", "status", ws, "--keys", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	byRole := map[string]repo.RoleStatus{}
	for _, r := range st {
		byRole[r.Role] = r
		if len(r.Keys) != len(r.KeyIDs) {
			t.Errorf("%s: %d keys described for %d key ids", r.Role, len(r.Keys), len(r.KeyIDs))
		}
		for i, key := range r.Keys {
			if key.KeyID != r.KeyIDs[i] || key.Short != key.KeyID[:12] || key.Type != "ed25519" || key.Scheme != "ed25519" {
				t.Errorf("%s: key %+v", r.Role, key)
			}
		}
	}
	ts := byRole["timestamp"]
	if len(ts.Keys) != 1 || ts.Keys[0].Source != k("timestamp") || byRole["root"].Threshold != 2 || len(byRole["root"].Keys) != 2 {
		t.Fatalf("status --keys --json: %+v", st)
	}
	if r := byRole["root"].Keys[0]; !r.Offline || ts.Keys[0].Offline {
		t.Errorf("offline flags: root %+v, timestamp %+v", r, ts.Keys[0])
	}
	// Without --keys the JSON is as before.
	if out := c.ok("repo", "status", ws, "--json"); strings.Contains(out, `"keys"`) {
		t.Errorf("status --json without --keys lists keys:\n%s", out)
	}
	text := c.ok("repo", "status", ws, "--keys")
	for _, want := range []string{"ROLE", "root", "2 of 2", "ed25519/ed25519", ts.Keys[0].KeyID, k("timestamp"), "webkit"} {
		if !strings.Contains(text, want) {
			t.Errorf("status --keys lacks %q:\n%s", want, text)
		}
	}

	errs := c.fail(exitFailure, "repo", "rotate", ws, "--role", "timestamp", "--add-key", k("timestamp2"), "--remove-key", "0badc0de")
	if !strings.Contains(errs, "bsi: hint: role timestamp has threshold 1 of 1 key(s): "+ts.Keys[0].KeyID) {
		t.Errorf("rotate error does not list the role's keys:\n%s", errs)
	}
}

// TestRepoStatusKeySources: status --keys names the file each offline key
// was given as when added (init, delegate, rotate --add-key) and the file
// it last signed with, and "offline ROLE key, file not recorded" for a key
// the workspace never saw as a file (old code: "unknown" for every offline
// key, and no source in --json).
func TestRepoStatusKeySources(t *testing.T) {
	c, ws, k := repoOpsWorkspace(t)
	sources := func() map[string]repo.StatusKey {
		var st []repo.RoleStatus
		if err := json.Unmarshal([]byte(c.ok("repo", "status", ws, "--keys", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		out := map[string]repo.StatusKey{}
		for _, r := range st {
			for i, key := range r.Keys {
				out[fmt.Sprintf("%s/%d", r.Role, i)] = key
			}
		}
		return out
	}
	got := sources()
	for role, want := range map[string]string{"root/0": k("root1") + ".pub", "root/1": k("root2") + ".pub",
		"targets/0": k("targets") + ".pub", "webkit/0": k("webkit") + ".pub", "timestamp/0": k("timestamp")} {
		if got[role].Source != want {
			t.Errorf("%s key source %q, want %q", role, got[role].Source, want)
		}
	}
	// Signing with the private key records it as the key's latest file.
	c.ok("repo", "sign", ws, "--key", k("targets"))
	if s := sources()["targets/0"].Source; s != k("targets") {
		t.Errorf("after signing, targets key source %q, want %q", s, k("targets"))
	}
	// A workspace that never recorded a key says which role's offline
	// key it is, never a bare "unknown".
	cfgPath := filepath.Join(ws, "workspace.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil || cfg["key_sources"] == nil {
		t.Fatalf("workspace.json has no key_sources: %v\n%s", err, data)
	}
	delete(cfg, "key_sources")
	data, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	text := c.ok("repo", "status", ws, "--keys")
	if strings.Contains(text, "unknown") || !strings.Contains(text, "offline root key, file not recorded") ||
		!strings.Contains(text, "offline webkit key, file not recorded") || !strings.Contains(text, k("timestamp")) {
		t.Errorf("status --keys without recorded sources:\n%s", text)
	}
}

// TestPublishWithoutRegion: publishing to s3:// without a region fails
// with exit 1 before anything is signed, naming the URL, the missing
// parameter and how to give it (old code: the SDK's "endpoint rule error,
// Invalid region" from the first request, after snapshot and timestamp
// were signed).
func TestPublishWithoutRegion(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_CONNECTION_STRING": "", "AZURE_STORAGEBLOB_CONNECTIONSTRING": ""} {
		t.Setenv(k, v)
	}
	c, ws, k := repoOpsWorkspace(t)
	for _, key := range []string{"root1", "root2", "targets"} {
		c.ok("repo", "sign", ws, "--key", k(key))
	}
	before, err := os.ReadFile(filepath.Join(ws, "workspace.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dest, param, hint string }{
		{"s3://bsi-repo", "region", "?region=eu-west-1"},
		{"azblob://bsi-repo", "storage_account", "?storage_account=NAME"},
	} {
		errs := c.fail(exitFailure, "repo", "publish", ws, "--to", tc.dest)
		for _, want := range []string{tc.dest + " has no " + tc.param, tc.hint} {
			if !strings.Contains(errs, want) {
				t.Errorf("publish --to %s: stderr lacks %q:\n%s", tc.dest, want, errs)
			}
		}
		if strings.Contains(errs, "endpoint rule") {
			t.Errorf("publish --to %s: raw SDK error:\n%s", tc.dest, errs)
		}
	}
	after, err := os.ReadFile(filepath.Join(ws, "workspace.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the workspace changed (something was signed) before the destination was refused: %v", err)
	}
}

// TestKeysGenerateMakesDirectory: the README's first command, keys
// generate --out keys/NAME in an empty directory, creates keys/ with mode
// 0700 (old code: "no such file or directory", as if the key should
// exist).
func TestKeysGenerateMakesDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "keys", "team", "root1")
	if code, _, stderr := runKeys(t, nil, "keys", "generate", "--out", out, "--insecure-no-password"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, d := range []string{filepath.Join(dir, "keys"), filepath.Join(dir, "keys", "team")} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v; want a directory with mode 0700", d, err, fi.Mode())
		}
	}
	for _, f := range []string{out, out + ".pub"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	// A parent that is a file is named.
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runKeys(t, nil, "keys", "generate", "--out", filepath.Join(file, "k"), "--insecure-no-password")
	if code != 1 || !strings.Contains(stderr, file+": not a directory") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
