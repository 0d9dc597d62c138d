package serve

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	encryptedKeyPEM = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnsibmFtZSI6InNjcnlwdCJ9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
	pkcs8KeyPEM     = "\n-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
	publicKeyPEM    = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
)

// TestAttackServeWorkspace: "bsi serve" pointed at a publisher's workspace,
// or a directory above it, served the encrypted private keys with status
// 200. NewHandler must refuse such a directory, naming the file.
func TestAttackServeWorkspace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		serve string // below the temporary directory
		file  string // the file the error must name; "" for accepted
	}{
		{"workspace", map[string]string{"ws/workspace.json": "{}", "ws/public/timestamp.json": "{}"}, "ws", "workspace.json"},
		{"parent of a workspace", map[string]string{"ws/workspace.json": "{}", "ws/public/timestamp.json": "{}"}, ".", "ws/workspace.json"},
		{"published tree inside a workspace", map[string]string{"ws/workspace.json": "{}", "ws/root-1.key": encryptedKeyPEM, "ws/public/timestamp.json": "{}"}, "ws/public", ""},
		{"key file by name", map[string]string{"pub/timestamp.json": "{}", "pub/keys/timestamp.key": "opaque"}, "pub", "keys/timestamp.key"},
		{"encrypted key under another name", map[string]string{"pub/timestamp.json": "{}", "pub/targets/notes.json": encryptedKeyPEM}, "pub", "targets/notes.json"},
		{"unencrypted PKCS#8 key", map[string]string{"pub/a/b/c/tls.pem": pkcs8KeyPEM}, "pub", "a/b/c/tls.pem"},
		{"public key", map[string]string{"pub/timestamp.json": "{}", "pub/root-1.key.pub": publicKeyPEM}, "pub", ""},
		{"key in a dot directory (never served)", map[string]string{"pub/timestamp.json": "{}", "pub/.git/k": pkcs8KeyPEM}, "pub", ""},
		{"PEM header later in the file", map[string]string{"pub/doc.json": `{"x":"` + pkcs8KeyPEM + `"}`}, "pub", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(base, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(base, filepath.FromSlash(tc.serve))
			h, err := NewHandler(dir, nil)
			if tc.file == "" {
				if err != nil {
					t.Fatalf("NewHandler: %v", err)
				}
				h.Close()
				return
			}
			var ue *UnsafeTreeError
			if !errors.As(err, &ue) || ue.File != tc.file || ue.Dir != dir {
				t.Fatalf("NewHandler = %v; want an *UnsafeTreeError naming %s", err, tc.file)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name %s", err, tc.file)
			}
		})
	}
}

// TestAttackPrivateKeyAppearsLater: a key written into the tree after the
// server started is never sent, whatever its name.
func TestAttackPrivateKeyAppearsLater(t *testing.T) {
	dir := tree(t)
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	for name, body := range map[string]string{
		"7.targets.json":                         encryptedKeyPEM,
		"targets/webkit/" + hash64 + ".k.tar.gz": pkcs8KeyPEM,
		"big.json":                               "-----BEGIN EC PRIVATE KEY-----\n" + strings.Repeat("A", 100<<10),
	} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(srv.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(got), "PRIVATE KEY") {
			t.Errorf("GET %s: %d %.60q; want 404 without the key", name, resp.StatusCode, got)
		}
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{encryptedKeyPEM, "ENCRYPTED SIGSTORE PRIVATE KEY"},
		{pkcs8KeyPEM, "PRIVATE KEY"},
		{"\ufeff  -----BEGIN RSA PRIVATE KEY-----\n", "RSA PRIVATE KEY"},
		{"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----", "ENCRYPTED COSIGN PRIVATE KEY"},
		{publicKeyPEM, ""},
		{"-----BEGIN PRIVATE KEY", ""},
		{"-----BEGIN X\nPRIVATE KEY-----", ""},
		{`{"signed":{}}`, ""},
		{"", ""},
	} {
		got, ok := privateKeyPEM([]byte(tc.in))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("privateKeyPEM(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzPrivateKeyPEM: whatever privateKeyPEM recognises starts, after white
// space, with exactly the header line of the type it reports, and that
// type ends in "PRIVATE KEY"; and a recognised header is recognised after
// any leading white space and with any content after it.
func FuzzPrivateKeyPEM(f *testing.F) {
	for _, s := range []string{encryptedKeyPEM, pkcs8KeyPEM, publicKeyPEM, "-----BEGIN X PRIVATE KEY-----", `{"signed":{}}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, ok := privateKeyPEM(b)
		if !ok {
			if typ != "" {
				t.Fatalf("not a key, yet type %q", typ)
			}
			return
		}
		trimmed := strings.TrimLeft(string(b), " \t\r\n\ufeff")
		if !strings.HasSuffix(typ, "PRIVATE KEY") || !strings.HasPrefix(trimmed, "-----BEGIN "+typ+"-----") {
			t.Fatalf("%q recognised as %q", b, typ)
		}
		again, ok := privateKeyPEM([]byte("\n \t" + trimmed + "\x00tail"))
		if !ok || again != typ {
			t.Fatalf("%q with other white space and tail: %q, %v", b, again, ok)
		}
	})
}
