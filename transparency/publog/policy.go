package publog

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	fnote "github.com/transparency-dev/formats/note"
)

// Policy is a parsed C2SP tlog-policy with what a publisher needs: the log
// key, each witness's name, key and URL, and the quorum predicate.
type Policy struct {
	LogKey    string // the log's vkey; its name is the origin
	Log       note.Verifier
	Witnesses []Witness
	Group     witness.Group
}

// Witness is one "witness" line of a policy.
type Witness struct {
	Name     string
	Key      string // vkey
	Verifier note.Verifier
	URL      string // submission prefix
}

// ParsePolicy reads a tlog-policy: exactly one "log VKEY [URL]" line,
// "witness NAME VKEY URL" lines (the URL is required: the publisher calls
// every witness) and the group and quorum lines that
// github.com/transparency-dev/formats/witness.ParsePolicy reads.
func ParsePolicy(data []byte) (*Policy, error) {
	g, err := witness.ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("tlog-policy: %w", err)
	}
	p := &Policy{Group: g}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "log":
			if p.LogKey != "" {
				return nil, fmt.Errorf("tlog-policy: more than one log line")
			}
			if len(f) < 2 || len(f) > 3 {
				return nil, fmt.Errorf("tlog-policy: log line %q is not \"log VKEY [URL]\"", line)
			}
			v, err := note.NewVerifier(f[1])
			if err != nil {
				return nil, fmt.Errorf("tlog-policy: log key %q: %w", f[1], err)
			}
			p.LogKey, p.Log = f[1], v
		case "witness":
			v, err := fnote.NewVerifierForCosignatureV1(f[2])
			if err != nil {
				return nil, fmt.Errorf("tlog-policy: witness %s key: %w", f[1], err)
			}
			p.Witnesses = append(p.Witnesses, Witness{Name: f[1], Key: f[2], Verifier: v, URL: f[3]})
		}
	}
	if p.LogKey == "" {
		return nil, fmt.Errorf("tlog-policy: no log line")
	}
	if len(p.Witnesses) == 0 || g.N == 0 {
		return nil, fmt.Errorf("tlog-policy: no witness quorum (a log without witnesses can show each device its own view)")
	}
	return p, nil
}

// FormatPolicy writes a policy with one log, the witnesses and a quorum of
// n of them.
func FormatPolicy(logKey, logURL string, ws []Witness, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "log %s", logKey)
	if logURL != "" {
		fmt.Fprintf(&b, " %s", logURL)
	}
	b.WriteByte('\n')
	names := make([]string, len(ws))
	for i, w := range ws {
		fmt.Fprintf(&b, "witness %s %s %s\n", w.Name, w.Key, w.URL)
		names[i] = w.Name
	}
	fmt.Fprintf(&b, "group bsi-witnesses %d %s\nquorum bsi-witnesses\n", n, strings.Join(names, " "))
	return b.Bytes()
}
