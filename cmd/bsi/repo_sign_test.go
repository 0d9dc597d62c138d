package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/trust/repo"
)

// signCLI is a published workspace: root (root1, root2, 2 of 2),
// targets, and webkit (webkit, webkit-b, 2 of 2) with one improvement.
func signCLI(t *testing.T) (*repoCLI, string) {
	c := newRepoCLI(t)
	for _, name := range []string{"webkit-b", "attacker"} {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteKeyPair(c.path(name+".key"), priv, nil); err != nil {
			t.Fatal(err)
		}
	}
	ws := c.path("ws")
	k := c.key
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-key", k("root2")+".pub", "--root-threshold", "2",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub", "--key", k("webkit-b")+".pub", "--threshold", "2")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"), "--key", k("webkit-b"))
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("root2"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("repo", "publish", ws)
	return c, ws
}

func (c *repoCLI) key(name string) string { return c.path(name + ".key") }

// keyID is the TUF key id of a key file of c.
func (c *repoCLI) keyID(name string) string {
	c.t.Helper()
	pub, err := keys.LoadPublicKeyRef(context.Background(), c.key(name)+".pub", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	k, err := keys.TUFKey(pub)
	if err != nil {
		c.t.Fatal(err)
	}
	id, _ := k.ID()
	return id
}

// runTTY runs a command as if stdin were a terminal that types input.
func (c *repoCLI) runTTY(input string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{Stdin: strings.NewReader(input), StdinTerminal: true, Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Now: func() time.Time { return c.now }, Logger: devicecli.OSEnv().Logger}
	code := run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// runErr runs a command that must succeed and returns its stderr.
func (c *repoCLI) okErr(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(context.Background(), args...)
	if code != 0 {
		c.t.Fatalf("bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return errs
}

func fileSHA256(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func dirTree(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".lock" {
			return err
		}
		b, _ := os.ReadFile(p)
		out[p] = string(b)
		return nil
	})
	return out
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Someone with workspace access but no key rotates root to add their key
// with threshold 1, and hands the officers the export. The officer's
// summary shows the added key and the lowered threshold; the chain check
// refuses it unless the officer allows the lowering; without the
// officer's trusted root nothing is signed; and a workspace signer sees
// the same on stderr.
func TestAttackBlindRootSigningAddsKey(t *testing.T) {
	c, ws := signCLI(t)
	trusted := filepath.Join(ws, "public", "1.root.json")
	c.okErr("repo", "rotate", ws, "--role", "root", "--add-key", c.key("attacker")+".pub", "--threshold", "1")
	export := c.path("root-export.json")
	c.ok("repo", "export-role", ws, "--role", "root", "--out", export)
	before, _ := os.ReadFile(export)
	attacker := c.keyID("attacker")

	// Without the officer's own trusted root: refused, nothing signed.
	errs := c.fail(exitFailure, "repo", "sign", "--file", export, "--key", c.key("root1"))
	if !strings.Contains(errs, "--trusted-root") {
		t.Fatalf("no trusted root: %s", errs)
	}
	// With it: the lowered threshold is refused (exit 3), and shown why.
	errs = c.fail(exitSecurity, "repo", "sign", "--file", export, "--key", c.key("root1"), "--trusted-root", trusted)
	if !strings.Contains(errs, "root: threshold of root lowered from 2 to 1") {
		t.Fatalf("threshold down: %s", errs)
	}
	if after, _ := os.ReadFile(export); !bytes.Equal(before, after) {
		t.Fatal("a refused file was changed")
	}
	// Allowed: the summary (stderr, no terminal) names the new key, its
	// type and role, and the threshold change.
	code, out, errs := c.run(context.Background(), "repo", "sign", "--file", export, "--key", c.key("root1"),
		"--trusted-root", trusted, "--allow-threshold-down")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"root v2 (was v1)", "key added   " + attacker + " ed25519/ed25519 for root",
		"role root changed: threshold 1 (was 2, LOWERED) of 3 key(s)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("summary lacks %q:\n%s", want, errs)
		}
	}
	if !strings.Contains(out, "signed "+export+" (root v2)") {
		t.Errorf("stdout: %s", out)
	}
	// --json: the same summary as JSON on stdout, with the result.
	out = c.ok("repo", "sign", "--file", export, "--key", c.key("root2"), "--trusted-root", trusted, "--allow-threshold-down", "--json")
	var j struct {
		Summary repo.Summary
		Result  signFileResult
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.Summary.Roles) != 1 || len(j.Summary.Roles[0].Keys) != 1 ||
		j.Summary.Roles[0].Keys[0].KeyID != attacker || j.Summary.Roles[0].Keys[0].Change != "added" ||
		j.Result.File != export || j.Result.Role != "root" || j.Result.Version != 2 {
		t.Fatalf("json summary: %v\n%s", err, out)
	}
	// In the workspace, with no terminal, the summary goes to stderr.
	errs = c.okErr("repo", "sign", ws, "--key", c.key("root1"))
	if !strings.Contains(errs, "key added   "+attacker) || !strings.Contains(errs, "LOWERED") {
		t.Fatalf("workspace summary:\n%s", errs)
	}
}

// Someone without a key queues an improvement; the two webkit signers,
// each signing for something else, are shown it with its hash.
func TestAttackBlindComponentSigningExtraImprovement(t *testing.T) {
	c, ws := signCLI(t)
	em, ep := c.improvement("webkit-26.3-evil", 2)
	c.ok("repo", "add", ws, "--manifest", em, "--payload", ep) // no key
	sum := fileSHA256(t, ep)
	m, p := c.improvement("webkit-26.3-b", 3)
	errs := c.okErr("repo", "add", ws, "--manifest", m, "--payload", p, "--key", c.key("webkit"))
	want := "improvement added webkit/webkit-26.3-evil.tar.gz sha256:" + sum
	if !strings.Contains(errs, want) || !strings.Contains(errs, "id webkit-26.3-evil, component webkit, platform macos, releases 26.3, sequence 2, status active") {
		t.Fatalf("repo add --key summary lacks the queued improvement:\n%s", errs)
	}
	errs = c.okErr("repo", "sign", ws, "--key", c.key("webkit-b"), "--role", "webkit")
	if !strings.Contains(errs, want) || !strings.Contains(errs, "webkit v2 (was v1)") {
		t.Fatalf("repo sign --role webkit summary lacks the queued improvement:\n%s", errs)
	}
}

// Issue 17 item 3: a key that the root file does not authorise is refused
// on the offline machine, and the file is left as it was.
func TestSignWrongKeyOffline(t *testing.T) {
	c, ws := signCLI(t)
	trusted := filepath.Join(ws, "public", "1.root.json")
	c.okErr("repo", "rotate", ws, "--role", "root")
	export := c.path("root.json")
	c.ok("repo", "export-role", ws, "--role", "root", "--out", export)
	before, _ := os.ReadFile(export)
	errs := c.fail(exitSecurity, "repo", "sign", "--file", export, "--key", c.key("webkit"), "--trusted-root", trusted)
	if !strings.Contains(errs, "is not authorised for role root") {
		t.Fatal(errs)
	}
	if after, _ := os.ReadFile(export); !bytes.Equal(before, after) {
		t.Fatal("file changed")
	}
	// Root v1 (the first ceremony) needs no trusted root, but its own keys.
	c2 := newRepoCLI(t)
	ws2 := c2.path("ws")
	c2.ok("repo", "init", ws2, "--root-key", c2.key("root1")+".pub", "--targets-key", c2.key("targets")+".pub",
		"--snapshot-key", c2.key("snapshot"), "--timestamp-key", c2.key("timestamp"))
	c2.ok("repo", "export-role", ws2, "--role", "root", "--out", c2.path("root.json"))
	c2.fail(exitSecurity, "repo", "sign", "--file", c2.path("root.json"), "--key", c2.key("webkit"))
	if out := c2.ok("repo", "sign", "--file", c2.path("root.json"), "--key", c2.key("root1")); !strings.Contains(out, "(root v1)") {
		t.Fatal(out)
	}
}

// Issue 17 item 4: signing with nothing pending is exit 1, not 3.
func TestSignNothingPendingIsNotSecurity(t *testing.T) {
	c, ws := signCLI(t)
	errs := c.fail(exitFailure, "repo", "sign", ws, "--key", c.key("root1"))
	if !strings.Contains(errs, "nothing to sign") {
		t.Fatal(errs)
	}
}

// On a terminal, "n" or the end of input signs nothing and leaves the
// workspace byte-identical; "y" signs.
func TestSignConfirmationDeclined(t *testing.T) {
	c, ws := signCLI(t)
	m, p := c.improvement("webkit-26.3-b", 2)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p)
	before := dirTree(t, ws)
	for _, input := range []string{"n\n", "", "yes please\n"} {
		code, out, errs := c.runTTY(input, "repo", "sign", ws, "--key", c.key("webkit"))
		if code != exitFailure || !strings.Contains(errs, "Sign this? [y/N]") || !strings.Contains(errs, "declined") || out != "" {
			t.Fatalf("answer %q: exit %d\n%s%s", input, code, out, errs)
		}
		if !sameTree(before, dirTree(t, ws)) {
			t.Fatalf("answer %q: workspace changed", input)
		}
	}
	// repo add --key declined: the improvement is not even added.
	m3, p3 := c.improvement("webkit-26.3-c", 3)
	if code, _, errs := c.runTTY("n\n", "repo", "add", ws, "--manifest", m3, "--payload", p3, "--key", c.key("webkit")); code != exitFailure {
		t.Fatalf("add declined: exit %d %s", code, errs)
	}
	if !sameTree(before, dirTree(t, ws)) {
		t.Fatal("declined add changed the workspace")
	}
	if code, out, errs := c.runTTY("y\n", "repo", "sign", ws, "--key", c.key("webkit")); code != 0 || !strings.Contains(out, "signed webkit") {
		t.Fatalf("answer y: exit %d\n%s%s", code, out, errs)
	}
	// --yes does not ask.
	if code, _, errs := c.runTTY("", "repo", "sign", ws, "--key", c.key("webkit-b"), "--yes"); code != 0 || strings.Contains(errs, "[y/N]") {
		t.Fatalf("--yes: exit %d\n%s", code, errs)
	}
}

// Strings from metadata are escaped in the summary.
func TestSignSummaryEscapes(t *testing.T) {
	var b bytes.Buffer
	writeSummary(&b, &repo.Summary{Roles: []repo.RoleChange{{Role: "webkit", Type: "targets", Version: 2, New: true,
		Improvements: []repo.ImprovementChange{{Change: "added", Target: "webkit/x\x1b[2J.tar.gz", ID: "x\u202e", Status: "active"}}}}})
	if strings.ContainsAny(b.String(), "\x1b\u202e") || !strings.Contains(b.String(), `\x1b[2J`) {
		t.Fatalf("not escaped: %q", b.String())
	}
}

// A tree published elsewhere is read with --published; without it the
// workspace's DIR/public (absent here) cannot be verified and the role is
// shown whole, saying so.
func TestSignSummaryPublishedElsewhere(t *testing.T) {
	c := newRepoCLI(t)
	ws, pub := c.path("ws"), c.path("served")
	k := c.key
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--targets-key", k("targets")+".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("repo", "publish", ws, "--to", pub)
	m2, p2 := c.improvement("webkit-26.3-b", 2)
	c.ok("repo", "add", ws, "--manifest", m2, "--payload", p2)
	errs := c.okErr("repo", "sign", ws, "--key", k("webkit"), "--published", pub, "--yes")
	if !strings.Contains(errs, "webkit v2 (was v1)") || strings.Contains(errs, "webkit-26.3-a.tar.gz") {
		t.Fatalf("with --published:\n%s", errs)
	}
	m3, p3 := c.improvement("webkit-26.3-c", 3)
	errs = c.okErr("repo", "add", ws, "--manifest", m3, "--payload", p3, "--key", k("webkit"))
	if !strings.Contains(errs, "last published version unverified") || !strings.Contains(errs, "webkit-26.3-a.tar.gz") {
		t.Fatalf("without --published:\n%s", errs)
	}
}
