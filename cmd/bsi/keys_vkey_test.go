package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency/witness"
)

// The vkeys "bsi keys generate/show --vkey" print are those the log's
// note signer and the witness's cosigner use: a checkpoint signed with the
// key verifies with the log vkey, and the witness vkey is the cosigner's.
func TestKeysVKey(t *testing.T) {
	c := newRepoCLI(t)
	const name = "example.org/bsi-log"
	out := c.ok("keys", "generate", "--out", c.path("log.key"), "--insecure-no-password", "--vkey", name)
	var gen, shownPub, shownPriv noteVKeys
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "log vkey:"); ok {
			gen.LogVKey = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "witness vkey:"); ok {
			gen.WitnessVKey = strings.TrimSpace(v)
		}
	}
	for _, tc := range []struct {
		ref string
		to  *noteVKeys
	}{{c.path("log.key.pub"), &shownPub}, {c.path("log.key"), &shownPriv}} {
		if err := json.Unmarshal([]byte(c.ok("keys", "show", "--json", "--vkey", name, tc.ref)), tc.to); err != nil {
			t.Fatal(err)
		}
	}
	if gen.LogVKey == "" || gen != shownPub || gen != shownPriv {
		t.Fatalf("generate %+v, show .pub %+v, show private %+v", gen, shownPub, shownPriv)
	}

	s, err := keys.LoadSigner(context.Background(), c.path("log.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := witness.NewNoteSigner(name, s)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: name + "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, ns)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(gen.LogVKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatalf("a checkpoint signed with the key does not verify with the printed log vkey %s: %v", gen.LogVKey, err)
	}
	cs, err := witness.NewCosigner(name, s, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if cs.VerifierKey() != gen.WitnessVKey {
		t.Fatalf("witness vkey %s, the cosigner's is %s", gen.WitnessVKey, cs.VerifierKey())
	}
}

func TestKeysVKeyRefused(t *testing.T) {
	c := newRepoCLI(t)
	c.ok("keys", "generate", "--type", "ecdsa", "--out", c.path("ec.key"), "--insecure-no-password")
	for _, tc := range []struct {
		want int
		args []string
		msg  string
	}{
		{exitUsage, []string{"keys", "generate", "--type", "ecdsa", "--out", c.path("x.key"), "--insecure-no-password", "--vkey", "n"}, "ed25519"},
		{exitUsage, []string{"keys", "generate", "--out", c.path("y.key"), "--insecure-no-password", "--vkey", "a b"}, "not a valid key name"},
		{exitUsage, []string{"keys", "show", "--vkey", "a+b", c.path("ec.key.pub")}, "not a valid key name"},
		{exitFailure, []string{"keys", "show", "--vkey", "n", c.path("ec.key.pub")}, "not ed25519"},
	} {
		if errs := c.fail(tc.want, tc.args...); !strings.Contains(errs, tc.msg) {
			t.Errorf("bsi %s: %s, want %q", strings.Join(tc.args, " "), errs, tc.msg)
		}
	}
}
