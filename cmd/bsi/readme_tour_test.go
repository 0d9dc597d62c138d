package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature/kms/fake"

	"github.com/bsiframework/bsi/internal/testservers"
	"github.com/bsiframework/bsi/serve"
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
	for _, p := range []string{"bsi serve ", "bsi repo keep-fresh ", "bsi client run ", "bsi fleet serve ",
		"bsi rollout watch ", "bsi-agent client run ", "systemctl "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tour runs README commands in dir as a reader would paste them: every
// bsi line (and bsi-agent line: the device commands are the same code,
// cmd/internal/devicecli) through the CLI's run function with BSI_KEY_PASSWORD set and no
// terminal (no prompt is answered), the other lines (making a payload)
// through sh; every one must exit 0. Lines that run forever are skipped,
// and export lines (the password is the test's). Each word has the
// addresses of subst replaced (a port of the test's own server for the
// README's 127.0.0.1:8080). It returns the number of bsi commands run and
// the stdout of the last one.
type tour struct {
	t     *testing.T
	dir   string
	subst map[string]string
	ctx   func(args []string) context.Context // the context of each bsi command; nil: the test's
	ran   int
	last  string
}

func (r *tour) run(cmds [][]string) {
	t := r.t
	vars := map[string]string{passwordEnv: "tour-password"}
	for _, c := range cmds {
		for i := range c {
			for from, to := range r.subst {
				c[i] = strings.ReplaceAll(c[i], from, to)
			}
		}
		line := strings.Join(c, " ")
		switch {
		case c[0] == "export":
			continue
		case tourForever(c):
			t.Logf("skipped (runs until stopped): %s", line)
			continue
		case c[0] != "bsi" && c[0] != "bsi-agent":
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = r.dir
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
		e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Now: time.Now,
			Logger: slog.New(slog.DiscardHandler), Getenv: func(k string) string { return vars[k] }}
		ctx := t.Context()
		if r.ctx != nil {
			ctx = r.ctx(args)
		}
		if code := run(ctx, args, e); code != 0 {
			t.Fatalf("README line %q: exit %d\nstdout:\n%s\nstderr:\n%s", line, code, &stdout, &stderr)
		}
		r.ran++
		r.last = stdout.String()
		if redirect != "" {
			if err := os.WriteFile(filepath.Join(r.dir, redirect), stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// publisherTour runs the README's first publisher block in a new
// temporary directory, which it makes the working directory, and returns
// the directory.
func publisherTour(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar to make the tour's payload with")
	}
	cmds := tourCommands(t, readmeBlock(t, "### Publishers"))
	dir := t.TempDir()
	t.Chdir(dir)
	r := &tour{t: t, dir: dir}
	r.run(cmds)
	if r.ran < 15 {
		t.Fatalf("the tour ran %d bsi commands; the README block has fewer than expected (parsing?)", r.ran)
	}
	return dir
}

// TestReadmePublisherTour runs the README's first publisher block as a new
// publisher would paste it, in an empty directory (see tour).
func TestReadmePublisherTour(t *testing.T) {
	dir := publisherTour(t)
	for _, f := range []string{"ws/public/2.root.json", "ws/public/timestamp.json", "keys/timestamp2.pub"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after the tour: %v", err)
		}
	}
}

// TestReadmeDeviceTour runs the README's device block after the publisher
// tour, against the tree it published served on a free loopback port (for
// the README's 127.0.0.1:8080): the device installs (b), rolls it back by
// choice and installs it again by name.
func TestReadmeDeviceTour(t *testing.T) {
	device := tourCommands(t, readmeBlock(t, "### Devices")) // before the tour leaves the source directory
	dir := publisherTour(t)
	h, err := serve.NewHandler(filepath.Join(dir, "ws", "public"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &tour{t: t, dir: dir, subst: map[string]string{"http://127.0.0.1:8080": srv.URL}}
	r.run(device)
	if r.ran < 8 {
		t.Fatalf("the device tour ran %d bsi commands; the README block has fewer than expected (parsing?)", r.ran)
	}
	var out, errb bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Now: time.Now,
		Logger: slog.New(slog.DiscardHandler), Getenv: func(string) string { return "" }}
	if code := run(t.Context(), []string{"client", "status", "device"}, e); code != 0 || !strings.Contains(out.String(), "webkit 26.3 (b)") {
		t.Errorf("after the device tour: exit %d\n%s%s", code, &out, &errb)
	}
}

// TestReadmeDeploymentTour runs the README's real-deployment block as
// written in a temporary directory, with the outside world replaced: the
// officers' USB stick and home directories are directories of the test,
// the AWS KMS keys are sigstore's fake KMS (one ECDSA key), the S3 bucket
// is the gofakes3 emulator (publish, refresh and the --published check
// through the s3 driver), and https://updates.example.com is the
// emulator's own HTTP endpoint, which the audit and the device read.
func TestReadmeDeploymentTour(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar to make the tour's payload with")
	}
	block := tourCommands(t, readmeBlock(t, "## A real deployment"))
	s := testservers.S3(t, "bsi-repo")
	s.Setenv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, d := range []string{"usb", "home"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	kms, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &tour{t: t, dir: dir, subst: map[string]string{
		"/media/usb/":                    filepath.Join(dir, "usb") + "/",
		"~/":                             filepath.Join(dir, "home") + "/",
		"awskms:///alias/":               "fakekms://",
		"s3://bsi-repo?region=eu-west-1": s.URL,
		"https://updates.example.com":    s.HTTPBase,
		"https://fleet.example.com":      "http://127.0.0.1:1",
		"/var/lib/bsi":                   filepath.Join(dir, "device"),
		"/opt/platform/improvements":     filepath.Join(dir, "improvements"),
	}, ctx: func([]string) context.Context {
		return context.WithValue(t.Context(), fake.KmsCtxKey{}, kms)
	}}
	r.run(block)
	if r.ran < 25 {
		t.Fatalf("the deployment tour ran %d bsi commands; the README block has fewer than expected (parsing?)", r.ran)
	}
	if !strings.Contains(r.last, "webkit 26.3 (a)") {
		t.Errorf("the device's status at the end of the tour:\n%s", r.last)
	}
	checkObjects(t, s)
}
