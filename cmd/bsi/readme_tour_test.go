package main

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the lines of the first ```sh block after the line
// heading in README.md.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("README.md has no sh block after %q", heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated sh block")
	}
	return strings.Split(block, "\n")
}

// tourWords splits a command line as sh would for the tour's lines:
// words separated by blanks, '...' and "..." quoting, a comment from an
// unquoted " #" to the end of the line, and && as a word of its own.
func tourWords(line string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '#' && !inWord:
			flush()
			return words
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words
}

// tourCommands turns the block's lines into commands: continuation lines
// joined, "for V in ...; do ... done" unrolled with $V replaced, lines
// split at &&.
func tourCommands(t *testing.T, lines []string) [][]string {
	var joined []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		for strings.HasSuffix(strings.TrimRight(l, " "), "\\") && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(strings.TrimRight(l, " "), "\\") + " " + strings.TrimSpace(lines[i])
		}
		if strings.TrimSpace(l) != "" {
			joined = append(joined, strings.TrimSpace(l))
		}
	}
	var cmds [][]string
	for i := 0; i < len(joined); i++ {
		words := tourWords(joined[i])
		if len(words) == 0 {
			continue
		}
		if words[0] == "for" {
			if len(words) < 4 || words[2] != "in" || words[len(words)-1] != "do" {
				t.Fatalf("README: a for loop the tour cannot read: %s", joined[i])
			}
			v := words[1]
			items := words[3 : len(words)-1]
			items[len(items)-1] = strings.TrimSuffix(items[len(items)-1], ";")
			var body [][]string
			for i++; i < len(joined) && joined[i] != "done"; i++ {
				body = append(body, tourWords(joined[i]))
			}
			for _, item := range items {
				for _, b := range body {
					var c []string
					for _, w := range b {
						c = append(c, strings.ReplaceAll(strings.ReplaceAll(w, "${"+v+"}", item), "$"+v, item))
					}
					cmds = append(cmds, c)
				}
			}
			continue
		}
		var c []string
		for _, w := range words {
			if w == "&&" {
				cmds = append(cmds, c)
				c = nil
				continue
			}
			c = append(c, w)
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// tourForever names the commands that run until stopped: the tour does
// not run them.
func tourForever(c []string) bool {
	s := strings.Join(c, " ")
	return strings.HasPrefix(s, "bsi serve ") || strings.HasPrefix(s, "bsi repo keep-fresh ") ||
		strings.HasPrefix(s, "bsi client run ")
}

// TestReadmePublisherTour runs the README's first publisher block as a new
// publisher would paste it, in an empty directory: every bsi line through
// the CLI's run function with BSI_KEY_PASSWORD set and no terminal (no
// prompt is answered), the other lines (making a payload) through sh;
// every one must exit 0. Lines that run forever are skipped, and export
// lines (the password is the test's).
func TestReadmePublisherTour(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar to make the tour's payload with")
	}
	cmds := tourCommands(t, readmeBlock(t, "### Publishers"))
	dir := t.TempDir()
	t.Chdir(dir)
	vars := map[string]string{passwordEnv: "tour-password"}
	ran := 0
	for _, c := range cmds {
		line := strings.Join(c, " ")
		switch {
		case c[0] == "export":
			continue
		case tourForever(c):
			t.Logf("skipped (runs until stopped): %s", line)
			continue
		case c[0] != "bsi":
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			continue
		}
		args := c[1:]
		redirect := ""
		if n := len(args); n >= 2 && args[n-2] == ">" {
			redirect, args = args[n-1], args[:n-2]
		}
		var stdout, stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: time.Now,
			logger: slog.New(slog.DiscardHandler), getenv: func(k string) string { return vars[k] }}
		if code := run(t.Context(), args, e); code != 0 {
			t.Fatalf("README line %q: exit %d\nstdout:\n%s\nstderr:\n%s", line, code, &stdout, &stderr)
		}
		ran++
		if redirect != "" {
			if err := os.WriteFile(redirect, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ran < 15 {
		t.Fatalf("the tour ran %d bsi commands; the README block has fewer than expected (parsing?)", ran)
	}
	for _, f := range []string{"ws/public/2.root.json", "ws/public/timestamp.json", "keys/timestamp2.pub"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after the tour: %v", err)
		}
	}
}
