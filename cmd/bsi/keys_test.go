package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/keys"
)

// runKeys runs one bsi command line in-process with the given environment
// variables and returns the exit code, stdout and stderr.
func runKeys(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] },
		Now:    time.Now,
		Logger: slog.New(slog.DiscardHandler),
	}
	code := run(t.Context(), args, e)
	return code, stdout.String(), stderr.String()
}

// TestKeysGenerateShowAgree: the key id printed by generate is the one
// show prints for both files and the one the keys package computes.
func TestKeysGenerateShowAgree(t *testing.T) {
	for _, typ := range []string{"ed25519", "ecdsa"} {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "k")
			code, stdout, stderr := runKeys(t, nil, "keys", "generate", "--type", typ, "--out", out,
				"--insecure-no-password", "--json")
			if code != 0 {
				t.Fatalf("generate: exit %d: %s", code, stderr)
			}
			var g generatedKey
			if err := json.Unmarshal([]byte(stdout), &g); err != nil {
				t.Fatal(err)
			}
			pub, err := keys.LoadPublicKey(out + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := keys.KeyID(pub)
			if g.KeyID != want || string(g.Type) != typ || g.Public != out+".pub" || g.Encrypted {
				t.Errorf("generate printed %+v; key id should be %s", g, want)
			}
			for _, ref := range []string{out, out + ".pub"} {
				code, stdout, stderr := runKeys(t, nil, "keys", "show", "--json", ref)
				if code != 0 {
					t.Fatalf("show %s: exit %d: %s", ref, code, stderr)
				}
				var s shownKey
				if err := json.Unmarshal([]byte(stdout), &s); err != nil {
					t.Fatal(err)
				}
				if s.KeyID != want || s.Ref != ref || s.TUFKey == nil || s.TUFKey.Scheme != g.Scheme {
					t.Errorf("show %s printed %+v, want key id %s", ref, s, want)
				}
			}
		})
	}
}

// TestKeysExitCodes: bad input exits 1, command-line mistakes exit 2, and
// a failed generate leaves no file.
func TestKeysExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An ed25519 key made by "bsi keys generate" with the password
	// "right" (a fixture: scrypt is slow under -race).
	enc := write("enc.key", keysEncryptedFixture)
	p384 := write("p384.pub", "-----BEGIN PUBLIC KEY-----\n"+
		"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEsOe2sXKZYTTq/kiDFRlRNLhFVVf5lNvo\n"+
		"TmvsxZpXLrT41xjA+Fv4H5KhZ96Me5VG/WYB6w/6q17JijJJK3gMJtfYJ43Zimvn\n"+
		"n4ak6vMnp+MN1ys2dBpoR9MDk3Hz3nQF\n-----END PUBLIC KEY-----\n")
	loose := write("loose.key", "-----BEGIN PRIVATE KEY-----\n"+
		"MC4CAQAwBQYDK2VwBCIEIMHuzuDlM+XIiVKwzokNYIe6vfzYDTUKiNREo86+jukI\n-----END PRIVATE KEY-----\n")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(dir, "new.key")
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no password", nil, []string{"keys", "generate", "--out", newKey}, 1, "a password is needed"},
		{"existing file", nil, []string{"keys", "generate", "--out", enc, "--insecure-no-password"}, 1, "file already exists"},
		{"wrong password", map[string]string{passwordEnv: "wrong"}, []string{"keys", "show", enc}, 1, "wrong password"},
		{"not PEM", nil, []string{"keys", "show", write("notes.txt", "hello\n")}, 1, "not a PEM file"},
		{"truncated", nil, []string{"keys", "show", write("t.key", "-----BEGIN PRIVATE KEY-----\nMC4C\n")}, 1, "truncated"},
		{"P-384", nil, []string{"keys", "show", p384}, 1, "unsupported key type ecdsa P-384"},
		{"unknown KMS", nil, []string{"keys", "show", "foo://k"}, 1, `unknown KMS scheme "foo://"`},
		{"loose private key", nil, []string{"keys", "show", loose}, 1, "bsi: hint: chmod 600 " + loose},
		{"not a regular file", nil, []string{"keys", "show", dir}, 1, "not a regular file (a directory)"},
		{"missing file", nil, []string{"keys", "show", filepath.Join(dir, "nope")}, 1, "no such file"},
		{"unknown type", nil, []string{"keys", "generate", "--type", "dsa", "--out", newKey}, 2, `unknown key type "dsa"`},
		{"missing --out", nil, []string{"keys", "generate"}, 2, "missing --out"},
		{"conflict", map[string]string{passwordEnv: "x"}, []string{"keys", "generate", "--out", newKey, "--insecure-no-password"}, 2, "conflicts"},
		{"bad flag", nil, []string{"keys", "show", "--frobnicate", enc}, 2, "frobnicate"},
		{"two refs", nil, []string{"keys", "show", enc, enc}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runKeys(t, tc.vars, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
			if strings.Contains(stderr, "wrong\n") || strings.Contains(stderr, "right") {
				t.Errorf("stderr echoes a password: %q", stderr)
			}
			if _, err := os.Lstat(newKey); err == nil {
				t.Fatalf("%s was written", newKey)
			}
		})
	}
}

const keysEncryptedFixture = `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJMRGx0bzUxZHBuUjlWQ0R3d3YreEh4UHFFSHNTbnNQ
ZFJSL3cza05ObUxnPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJ6ZElWbEZtUVJ4b2NJTkNaRElQOSs2V05aRWNSV0hQYyJ9LCJj
aXBoZXJ0ZXh0IjoiejdIQ250VmpQNHB6elZkRVlZMFJER1hvTjdKcmF2Ry9hVGxm
dDFTOUp5ZFUzOHVZU2lQRUNXYW45QjNKOUhDUVh6UTJucVloeTl2dkhGWlQ1TUgx
b3c9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
`
