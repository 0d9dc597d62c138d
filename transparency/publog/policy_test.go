package publog

import (
	"strings"
	"testing"

	"github.com/bsiframework/bsi/transparency/witness"
)

func testPolicy(t testing.TB, n int) []byte {
	k := keyring{}
	ls, _ := witness.NewNoteSigner("bsi.example/log", k.signer("log"))
	var ws []Witness
	for _, name := range []string{"w1", "w2", "w3"} {
		c, _ := witness.NewCosigner(name, k.signer(name), nil)
		ws = append(ws, Witness{Name: name, Key: c.VerifierKey(), URL: "http://127.0.0.1:1/" + name})
	}
	return FormatPolicy(ls.VerifierKey(), "", ws, n)
}

func TestParsePolicy(t *testing.T) {
	good := string(testPolicy(t, 2))
	p, err := ParsePolicy([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Log.Name() != "bsi.example/log" || len(p.Witnesses) != 3 || p.Group.N != 2 || p.Witnesses[2].URL != "http://127.0.0.1:1/w3" {
		t.Fatalf("%+v", p)
	}
	logLine := strings.SplitN(good, "\n", 2)[0]
	for _, tc := range []struct{ name, policy string }{
		{"no log line", strings.Replace(good, logLine+"\n", "", 1)},
		{"two log lines", logLine + "\n" + good},
		{"no witness", logLine + "\n"},
		{"quorum above the witnesses", strings.Replace(good, "bsi-witnesses 2", "bsi-witnesses 4", 1)},
		{"witness without URL", strings.Replace(good, " http://127.0.0.1:1/w1", "", 1)},
		{"bad log key", strings.Replace(good, logLine, "log bsi.example/log+00000000+AAAA", 1)},
		{"unknown quorum", strings.Replace(good, "quorum bsi-witnesses", "quorum nobody", 1)},
	} {
		if _, err := ParsePolicy([]byte(tc.policy)); err == nil {
			t.Errorf("%s: accepted\n%s", tc.name, tc.policy)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(testPolicy(f, 2))
	f.Add([]byte("log a+00000000+AQ==\nwitness w k u\nquorum w\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		if p.Log == nil || len(p.Witnesses) == 0 || p.Group.N == 0 {
			t.Fatalf("accepted a policy without a log or a quorum: %q", data)
		}
	})
}
