//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/bsiframework/bsi/keys/pkcs11/softhsmtest"
)

// p11CLI runs bsi in-process with an environment of its own (the PIN in
// BSI_PKCS11_PIN for some steps).
type p11CLI struct {
	t   *testing.T
	env map[string]string
	now time.Time
}

func (c *p11CLI) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return c.env[k] },
		Now: func() time.Time { return c.now }, Logger: slog.New(slog.DiscardHandler)}
	code := run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

func (c *p11CLI) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// TestPKCS11Ceremony is issue 17's scenario against a real SoftHSM2: three
// root keys on three tokens (ed25519, ecdsa, rsa) made with bsi keys
// generate --pkcs11, a 2-of-3 root signed through their URIs (PINs from
// pin-source files), a component delegated to a team key on a fourth token
// (PIN from BSI_PKCS11_PIN), an improvement added and published, and a
// device (bsi client) verifying and installing it. Then each way a token
// key can be wrong gives a clear message and exit code 1 or 2, never 3.
// One top-level test: the module is initialised once per process.
func TestPKCS11Ceremony(t *testing.T) {
	h := softhsmtest.New(t)
	dir := t.TempDir()
	pins := map[string]string{"root-a": "1111", "root-b": "2222", "root-c": "3333", "team": "4444", "locked-out": "5555"}
	for tok, pin := range pins {
		if err := h.InitToken(tok, pin); err != nil {
			t.Fatal(err)
		}
	}
	pinFile := func(tok string) string {
		p := filepath.Join(dir, tok+".pin")
		if err := os.WriteFile(p, []byte(pins[tok]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := &p11CLI{t: t, env: map[string]string{}, now: time.Now().UTC().Truncate(time.Second)}

	// Keys: three root keys on three tokens, one of each type.
	var rootURIs []string
	for i, rk := range []struct{ tok, typ string }{{"root-a", "ed25519"}, {"root-b", "ecdsa"}, {"root-c", "rsa"}} {
		ref := h.URI(rk.tok, "root") + "&pin-source=file:" + pinFile(rk.tok)
		pub := filepath.Join(dir, rk.tok+".pub")
		out := c.ok("keys", "generate", "--pkcs11", ref, "--type", rk.typ, "--out", pub, "--json")
		var g generatedKey
		if err := json.Unmarshal([]byte(out), &g); err != nil || !g.PKCS11 || string(g.Type) != rk.typ || !strings.Contains(g.Private, ";id=") {
			t.Fatalf("keys generate --pkcs11 (%d): %v %s", i, err, out)
		}
		// The key id is the one a file key of the same public key has.
		pk, err := keys.LoadPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := keys.KeyID(pk); id != g.KeyID {
			t.Fatalf("keyid %s, public key file gives %s", g.KeyID, id)
		}
		if show := c.ok("keys", "show", g.Private); !strings.Contains(show, g.KeyID) || !strings.Contains(show, "pkcs11 key (on a token)") {
			t.Fatalf("keys show %s:\n%s", g.Private, show)
		}
		rootURIs = append(rootURIs, g.Private)
	}
	c.env[pinEnv] = pins["team"]
	teamURI := h.URI("team", "webkit")
	c.ok("keys", "generate", "--pkcs11", teamURI, "--type", "ecdsa")
	fileKey := func(name string) string {
		p := filepath.Join(dir, name+".key")
		priv, _ := keys.Generate(keys.Ed25519)
		if err := keys.WriteKeyPair(p, priv, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	targets, snap, ts := fileKey("targets"), fileKey("snapshot"), fileKey("timestamp")

	// The ceremony: root 2 of 3, the third token stays in the safe.
	ws := filepath.Join(dir, "ws")
	c.ok("repo", "init", ws, "--root-key", rootURIs[0], "--root-key", rootURIs[1], "--root-key", rootURIs[2],
		"--root-threshold", "2", "--targets-key", targets+".pub", "--snapshot-key", snap, "--timestamp-key", ts)
	c.ok("repo", "sign", ws, "--key", rootURIs[0])
	c.ok("repo", "sign", ws, "--key", rootURIs[2])
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", teamURI)
	c.ok("repo", "sign", ws, "--key", targets)
	m := c.ok("manifest", "new", "--component", "webkit", "--platform", "macos", "--release", "26.3",
		"--sequence", "1", "--released", "2026-11-27T10:00:00Z")
	mf, pf := filepath.Join(dir, "m.json"), filepath.Join(dir, "p.tar.gz")
	os.WriteFile(mf, []byte(m), 0o644)
	os.WriteFile(pf, testrepo.TarGz(map[string]string{"lib/webkit.txt": "webkit-26.3-a\n"}), 0o644)
	c.ok("repo", "add", ws, "--manifest", mf, "--payload", pf, "--key", teamURI)
	c.ok("repo", "publish", ws)

	// A device verifies the chain root (2 token signatures) -> targets ->
	// webkit (token signature) and installs.
	pub := filepath.Join(ws, "public")
	srv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	defer srv.Close()
	f := newClientFixture(t, c.now)
	f.must("client", "init", f.state, "--root", filepath.Join(pub, "1.root.json"), "--url", srv.URL,
		"--platform", "macos", "--release", "26.3")
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", "webkit-26.3-a")
	var root struct {
		Signatures []struct{ KeyID string } `json:"signatures"`
	}
	data, _ := os.ReadFile(filepath.Join(pub, "1.root.json"))
	if err := json.Unmarshal(data, &root); err != nil || len(root.Signatures) != 2 {
		t.Fatalf("1.root.json: %v, %d signatures, want 2", err, len(root.Signatures))
	}

	// Errors: each clear, exit 1 (operational) or 2 (usage), never 3.
	if err := h.PutAES("team", pins["team"], "aes", []byte{0xae}); err != nil {
		t.Fatal(err)
	}
	if err := h.PutRSA("team", pins["team"], "small-rsa", []byte{0x10}, 1024); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ref, pin string
		code           int
		want           []string
	}{
		{"wrong PIN", h.URI("locked-out", "root"), "0000", exitFailure,
			[]string{`token "locked-out": wrong PIN`, "bsi: hint: the PIN comes from the URI's pin-source, else BSI_PKCS11_PIN"}},
		{"no PIN", h.URI("locked-out", "root"), "", exitFailure,
			[]string{"the token needs a PIN", "bsi: hint: set BSI_PKCS11_PIN"}},
		{"missing token", h.URI("no-such-token", "root"), "1111", exitFailure,
			[]string{`no token matches token="no-such-token" (tokens present: "locked-out", "root-a", "root-b", "root-c", "team")`, "bsi: hint: list the tokens"}},
		{"missing object", h.URI("team", "nothing"), pins["team"], exitFailure,
			[]string{`token "team" holds no private key with object="nothing" (private keys present: `, "bsi: hint: make the key with: bsi keys generate --pkcs11"}},
		{"secret key", h.URI("team", "aes"), pins["team"], exitFailure,
			[]string{`unsupported key type object="aes" is a secret key (CKO_SECRET_KEY)`}},
		{"small rsa", h.URI("team", "small-rsa"), pins["team"], exitFailure,
			[]string{"unsupported key type rsa 1024 bits"}},
		{"missing module", "pkcs11:token=team;object=webkit?module-path=/nonexistent/lib.so", pins["team"], exitFailure,
			[]string{"pkcs11 module /nonexistent/lib.so: no such file or directory", "bsi: hint: install the module"}},
		{"malformed URI", "pkcs11:token=team;object=web kit?module-path=" + h.Module, pins["team"], exitUsage,
			[]string{`pkcs11 URI: attribute "object": character ' ' at byte 3 must be percent-encoded`, "bsi: hint: a PKCS#11 key is named as"}},
		{"pin-value", h.URI("team", "webkit") + "&pin-value=4444", pins["team"], exitUsage,
			[]string{`attribute "pin-value": a PIN in the URI is refused`, "pin-value=***"}},
		{"no object", "pkcs11:token=team?module-path=" + h.Module, pins["team"], exitUsage,
			[]string{`attribute "object": missing`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.env[pinEnv] = tc.pin
			for _, args := range [][]string{{"keys", "show", tc.ref}, {"repo", "sign", ws, "--key", tc.ref}} {
				code, _, errs := c.run(args...)
				if code != tc.code {
					t.Fatalf("bsi %s: exit %d, want %d\n%s", strings.Join(args, " "), code, tc.code, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(errs, w) {
						t.Errorf("bsi %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errs)
					}
				}
				if strings.Contains(errs, "=4444") || strings.Contains(errs, "=0000") {
					t.Errorf("bsi %s: stderr repeats a PIN:\n%s", strings.Join(args, " "), errs)
				}
			}
		})
	}
	t.Run("generate over an existing label", func(t *testing.T) {
		c.env[pinEnv] = pins["team"]
		code, _, errs := c.run("keys", "generate", "--pkcs11", teamURI, "--type", "ed25519")
		if code != exitFailure || !strings.Contains(errs, "already exists on the token") {
			t.Fatalf("exit %d:\n%s", code, errs)
		}
	})
}
