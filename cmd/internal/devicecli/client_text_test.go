package devicecli

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestJSONEscapeRoundTrips(t *testing.T) {
	for _, s := range []string{"plain", "esc\x1b[2J", "bidi\u202ereversed", "del\x7f", "c1\u009b31m", "tag\U000E0041", "bell\a", "nul\x00"} {
		var buf bytes.Buffer
		e := clientEnv(&Env{Stdout: &buf, Stderr: &buf}, true)
		if err := WriteJSON(e.Stdout, map[string]string{"v": s}); err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexFunc(buf.Bytes(), func(r rune) bool { return r != '\n' && unsafeRune(r) }); i >= 0 {
			t.Errorf("%q: JSON output holds a raw %q: %s", s, buf.Bytes()[i], buf.Bytes())
		}
		var back map[string]string
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["v"] != s {
			t.Errorf("%q: read back %q, %v from %s", s, back["v"], err, buf.Bytes())
		}
	}
}
