package devicecli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// The client commands print names and reasons that came from a
// repository, an archive or a URL (target paths, ids, role names,
// withdrawal reasons, health-command output). They all print through
// clientEnv's writers, the one printing path: text is passed through
// Printable (control and format characters escaped, as on stderr), JSON
// through jsonEscape (the encoder escapes C0 itself, not DEL, C1 or
// format characters such as U+202E).

// clientEnv returns e with stdout and stderr escaping what is written:
// stdout as JSON when asJSON, as text otherwise; stderr as text. Progress
// bars still draw on the terminal itself (see rawWriter).
func clientEnv(e *Env, asJSON bool) *Env {
	c := *e
	out := Printable
	if asJSON {
		out = jsonEscape
	}
	c.Stdout = escWriter{w: rawWriter(e.Stdout), esc: out}
	c.Stderr = escWriter{w: rawWriter(e.Stderr), esc: Printable}
	return &c
}

// escWriter writes what it is given through esc. Every caller writes
// whole strings (fmt.Fprintf, tabwriter cells, one JSON document), so a
// rune is never split between two writes.
type escWriter struct {
	w   io.Writer
	esc func(string) string
}

func (x escWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(x.w, x.esc(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawWriter is the writer under any escWriter: where progress bars, which
// draw with their own control sequences, go.
func rawWriter(w io.Writer) io.Writer {
	for {
		x, ok := w.(escWriter)
		if !ok {
			return w
		}
		w = x.w
	}
}

// jsonEscape rewrites, in encoder output, every rune Printable would
// escape as a JSON \u escape, which is valid inside the strings where
// such runes can only occur and reads back as the same string.
func jsonEscape(s string) string {
	if Printable(s) == s {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || !unsafeRune(r):
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
