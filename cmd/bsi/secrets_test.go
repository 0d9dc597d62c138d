package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/bsiframework/bsi/agent/testrepo"
)

// secretsPassword encrypts the life's encrypted keys; secretsWrong is the
// wrong password of the error paths. Neither may appear anywhere.
const (
	secretsPassword = "Kq3v9-pw-of-the-secrets-test"
	secretsWrong    = "Zr8w2-wrong-pw-of-the-secrets-test"
)

// captured is one piece of text bsi produced: a stream of a command, or a
// file it wrote.
type captured struct {
	cmd, where, text string
}

// secretsLife runs bsi commands in-process with a debug-level logger
// writing to the command's stderr (slog's JSON handler when the command
// line has --json), and keeps everything they print.
type secretsLife struct {
	t    *testing.T
	dir  string
	out  []captured
	keys map[string]bool // private key files (and deliberately bad copies): not scanned
	cmds int
}

// bsi runs one command line with BSI_KEY_PASSWORD set to password (unset
// when empty) and checks its exit code: want, or any failure when want is
// -1. It returns stdout.
func (l *secretsLife) bsi(password string, want int, args ...string) string {
	l.t.Helper()
	return l.bsiVars(map[string]string{passwordEnv: password}, want, args...)
}

// bsiVars runs one command line with the environment variables vars (the
// password sources) and checks its exit code as bsi does.
func (l *secretsLife) bsiVars(vars map[string]string, want int, args ...string) string {
	l.t.Helper()
	var stdout, stderr bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler = slog.NewTextHandler(&stderr, opts)
	if slices.Contains(args, "--json") {
		h = slog.NewJSONHandler(&stderr, opts)
	}
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Now: time.Now, Logger: slog.New(h),
		Getenv: func(k string) string { return vars[k] }}
	code := run(l.t.Context(), args, e)
	l.record("bsi "+strings.Join(args, " "), stdout.String(), stderr.String())
	if want >= 0 && code != want || want < 0 && code == 0 {
		l.t.Fatalf("bsi %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, &stdout, &stderr)
	}
	return stdout.String()
}

func (l *secretsLife) record(cmd, stdout, stderr string) {
	l.cmds++
	l.out = append(l.out, captured{cmd, "stdout", stdout}, captured{cmd, "stderr", stderr})
}

// child runs one command line as a real process (the test binary as bsi,
// with its own logger and streams), if it can.
func (l *secretsLife) child(bin, password string, want int, args ...string) {
	l.t.Helper()
	if bin == "" {
		return
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), passwordEnv+"="+password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	l.record("child bsi "+strings.Join(args, " "), stdout.String(), stderr.String())
	if err != nil && code < 0 || want >= 0 && code != want || want < 0 && code == 0 {
		l.t.Fatalf("child bsi %s: exit %d (%v), want %d\n%s%s", strings.Join(args, " "), code, err, want, &stdout, &stderr)
	}
}

// stderrHas checks that the last command's stderr says want.
func (l *secretsLife) stderrHas(want string) {
	l.t.Helper()
	if last := l.out[len(l.out)-1]; !strings.Contains(last.text, want) {
		l.t.Errorf("%s: stderr %q does not say %q", last.cmd, last.text, want)
	}
}

func (l *secretsLife) path(name string) string { return filepath.Join(l.dir, name) }

// generate makes key NAME (keys/NAME.key), encrypted when password is set,
// and returns its key id.
func (l *secretsLife) generate(name, typ, password string, asJSON bool) string {
	l.t.Helper()
	args := []string{"keys", "generate", "--type", typ, "--out", l.path("keys/" + name + ".key")}
	if password == "" {
		args = append(args, "--insecure-no-password")
	}
	if !asJSON {
		out := l.bsi(password, 0, args...)
		_, id, _ := strings.Cut(out, "keyid:")
		id, _, _ = strings.Cut(strings.TrimSpace(id), "\n")
		return id
	}
	var g generatedKey
	if err := json.Unmarshal([]byte(l.bsi(password, 0, append(args, "--json")...)), &g); err != nil {
		l.t.Fatal(err)
	}
	return g.KeyID
}

// both runs a command that takes --json without and with it.
func (l *secretsLife) both(password string, want int, args ...string) {
	l.t.Helper()
	l.bsi(password, want, args...)
	l.bsi(password, want, append(slices.Clone(args), "--json")...)
}

// TestSecretsNeverPrinted: a publisher's and a device's whole life through
// the CLI (keys generate and show, repo init, delegate, sign, export-role,
// sign --file, import-signature, add, publish, status, list, refresh,
// rotate; client init, check, install, status; bsi demo), with encrypted
// and unencrypted keys of two types, every command that takes --json run
// with and without it, debug-level logs, some commands as real processes,
// and the error paths (wrong password, loose, damaged, truncated and
// trailing-data key files, failing publishes and refreshes). Every stream
// and every file written is searched for every private key in every form
// (PEM file, PEM body lines, raw secret bytes in hex, base64 and base64url
// at each alignment, as Go prints byte slices, ECDSA D in decimal, the
// PKCS#8 DER, the encrypted envelope's ciphertext) and for both passwords.
func TestSecretsNeverPrinted(t *testing.T) {
	l := &secretsLife{t: t, dir: t.TempDir(), keys: map[string]bool{}}
	var bin string
	if !testing.Short() {
		if b, err := exec.LookPath("bsi"); err == nil {
			bin = b
		}
	}
	for _, d := range []string{"keys", "bad"} {
		if err := os.Mkdir(l.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secretsPublisher(l, bin)
	secretsErrorPaths(l, bin)
	secretsPasswordSources(l)
	demoDirs := []string{l.path("demo-text"), l.path("demo-json")}
	l.bsi("", 0, "demo", "--keep", "--dir", demoDirs[0])
	l.bsi("", 0, "demo", "--keep", "--json", "--dir", demoDirs[1])

	forms, nkeys := l.secretForms(demoDirs)
	files := l.scanFiles()
	t.Logf("%d commands, %d streams and %d files searched for %d forms of %d keys and 2 passwords",
		l.cmds, len(l.out)-files, files, len(forms), nkeys)
	for _, c := range l.out {
		for name, f := range forms {
			if strings.Contains(c.text, f) {
				t.Errorf("%s: %s shows %s", c.cmd, c.where, name)
			}
		}
	}
}

// secretsPublisher is the publisher's and the device's life. Two keys are
// encrypted (root1 and the first timestamp key): scrypt is slow under
// -race, so the life opens them only where it must.
func secretsPublisher(l *secretsLife, bin string) {
	t := l.t
	pw := secretsPassword
	key := func(name string) string { return l.path("keys/" + name + ".key") }
	l.generate("root1", "ed25519", pw, false)
	l.generate("root2", "ed25519", "", true)
	l.generate("targets", "ecdsa", "", false)
	l.generate("snapshot", "ecdsa", "", true)
	tsID := l.generate("timestamp", "ed25519", pw, true)
	l.generate("webkit", "ed25519", "", false)
	l.generate("spare", "ecdsa", "", false)
	for _, k := range []string{"root1", "root2", "targets", "snapshot", "timestamp", "webkit", "spare"} {
		l.keys[key(k)] = true
	}
	l.bsi(pw, 0, "keys", "show", key("root1"))
	l.child(bin, pw, 0, "keys", "show", "--json", key("timestamp"))
	l.both("", 0, "keys", "show", key("targets"))

	ws := l.path("ws")
	l.bsi(pw, 0, "repo", "init", ws, "--root-key", key("root1")+".pub", "--root-key", key("root2")+".pub",
		"--root-threshold", "2", "--targets-key", key("targets")+".pub", "--snapshot-key", key("snapshot"),
		"--timestamp-key", key("timestamp"))
	l.bsi(pw, 0, "repo", "delegate", ws, "--component", "webkit", "--key", key("webkit")+".pub")
	l.bsi(pw, 0, "repo", "sign", ws, "--key", key("root1"))
	l.bsi(pw, 0, "repo", "export-role", ws, "--role", "root", "--out", l.path("root-export.json"))
	l.bsi(pw, 0, "repo", "sign", "--file", l.path("root-export.json"), "--key", key("root2"))
	l.bsi(pw, 0, "repo", "import-signature", ws, "--role", "root", "--file", l.path("root-export.json"))
	l.bsi(pw, 0, "repo", "sign", ws, "--key", key("targets"))
	secretsAdd(l, ws, "1", key("webkit"))
	l.bsi(secretsWrong, 1, "repo", "publish", ws) // the timestamp key is encrypted
	l.stderrHas("wrong password")
	l.bsi(pw, 0, "repo", "publish", ws)

	pub := filepath.Join(ws, "public")
	srv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	t.Cleanup(srv.Close)
	state := l.path("device")
	l.bsi("", 0, "client", "init", state, "--root", filepath.Join(pub, "1.root.json"), "--url", srv.URL,
		"--platform", "macos", "--release", "26.3")
	l.both("", 0, "client", "check", state)
	l.bsi("", 0, "client", "install", state, "--all")
	l.both("", 0, "client", "status", state)

	// The timestamp key moves to an unencrypted one: root v2, signed by
	// both root keys.
	l.bsi(pw, 0, "repo", "rotate", ws, "--role", "timestamp", "--add-key", key("spare"), "--remove-key", tsID)
	l.bsi(pw, 0, "repo", "sign", ws, "--key", key("root1"))
	l.child(bin, pw, 0, "repo", "sign", ws, "--key", key("root2"))
	secretsAdd(l, ws, "2", key("webkit"))
	l.child(bin, "", 0, "repo", "publish", ws, "--json")
	l.both("", 0, "repo", "publish", ws)
	l.bsi("", 0, "repo", "refresh", ws)
	l.both("", 0, "repo", "status", ws)
	l.both("", 0, "repo", "list", ws)
	l.both("", 0, "client", "check", state)
	l.bsi("", 0, "client", "install", state, "--all")
	l.bsi("", 0, "client", "run", state, "--once", "--interval", "1h", "--json")
	l.both("", 0, "client", "status", state)
}

// secretsPasswordSources: the per-key variable and the password file, right
// and wrong, alone and against BSI_KEY_PASSWORD; a password file open to
// others is refused. The password files are not scanned (they hold it).
func secretsPasswordSources(l *secretsLife) {
	t := l.t
	pw, wrong := secretsPassword, secretsWrong
	root1 := l.path("keys/root1.key")
	perKey := passwordKeyEnv(root1) // BSI_KEY_PASSWORD_ROOT1_KEY
	pwFile := func(name, content string, mode fs.FileMode) string {
		p := l.path("bad/" + name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		l.keys[p] = true
		return p
	}
	right, bad := pwFile("pw-right", pw+"\n", 0o600), pwFile("pw-wrong", wrong+"\r\n", 0o400)
	loose := pwFile("pw-loose", pw+"\n", 0o644)
	for _, tc := range []struct {
		vars map[string]string
		want int
		says string
	}{
		{map[string]string{perKey: pw}, 0, ""},
		{map[string]string{perKey: pw, passwordEnv: wrong, passwordFileEnv: bad}, 0, ""},
		{map[string]string{perKey: wrong, passwordEnv: pw}, 1, "wrong password"},
		{map[string]string{passwordFileEnv: right}, 0, ""},
		{map[string]string{passwordFileEnv: right, passwordEnv: wrong}, 0, ""},
		{map[string]string{passwordFileEnv: bad, passwordEnv: pw}, 1, "wrong password"},
		{map[string]string{passwordFileEnv: loose}, 1, "chmod 600 " + loose},
		{map[string]string{passwordFileEnv: l.path("bad/none")}, 1, passwordFileEnv + ": open"},
	} {
		l.bsiVars(tc.vars, tc.want, "keys", "show", root1)
		if tc.says != "" {
			l.stderrHas(tc.says)
		}
		l.bsiVars(tc.vars, tc.want, "keys", "show", "--json", root1)
	}
	// A new key from the password file, opened with it by repo status's
	// neighbour, keys show.
	fresh := l.path("keys/fresh.key")
	l.bsiVars(map[string]string{passwordFileEnv: right}, 0, "keys", "generate", "--out", fresh)
	l.keys[fresh] = true
	l.bsiVars(map[string]string{passwordKeyEnv(fresh): pw}, 0, "keys", "show", fresh)
	l.bsiVars(map[string]string{passwordFileEnv: right}, 2, "keys", "generate", "--out", l.path("keys/x.key"), "--insecure-no-password")
	l.stderrHas("conflicts with " + passwordFileEnv)
}

// secretsAdd adds webkit improvement number seq, signed with key.
func secretsAdd(l *secretsLife, ws, seq, key string) {
	m := l.bsi("", 0, "manifest", "new", "--component", "webkit", "--platform", "macos", "--release", "26.3",
		"--sequence", seq)
	mf, pf := l.path("m"+seq+".json"), l.path("p"+seq+".tar.gz")
	id := "webkit-26.3-" + map[string]string{"1": "a", "2": "b"}[seq]
	if err := os.WriteFile(mf, []byte(m), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(pf, testrepo.TarGz(map[string]string{"lib/webkit.txt": id + "\n"}), 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.bsi("", 0, "repo", "add", ws, "--manifest", mf, "--payload", pf, "--key", key)
}

// secretsErrorPaths: every way loading a key can fail, with the real keys'
// material in the bad files.
func secretsErrorPaths(l *secretsLife, bin string) {
	t := l.t
	pw := secretsPassword
	ws := l.path("ws")
	key := func(name string) string { return l.path("keys/" + name + ".key") }
	bad := func(name string, data []byte, mode fs.FileMode) string {
		p := l.path("bad/" + name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		l.keys[p] = true
		return p
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(key(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lines := func(b []byte) []string { return strings.SplitAfter(string(b), "\n") }
	root1, targets, webkit := read("root1"), read("targets"), read("webkit")
	block, _ := pem.Decode(targets)

	// Wrong password, to keys show (a publish with it is in the life).
	l.both(secretsWrong, 1, "keys", "show", key("root1"))
	l.child(bin, secretsWrong, 1, "keys", "show", key("timestamp"))
	// Loose modes.
	loose := bad("loose.key", webkit, 0o644)
	l.bsi("", 1, "repo", "sign", ws, "--key", loose)
	l.stderrHas("private key open to group or others (mode 0644")
	l.both(pw, 1, "keys", "show", bad("loose-enc.key", root1, 0o640))
	l.stderrHas("bsi: hint: chmod 600 ")
	// Damaged: a body line of an encrypted key dropped; an unencrypted DER
	// cut short, bit-flipped; trailing data; a truncated PEM.
	rl := lines(root1)
	l.both(pw, 1, "keys", "show", bad("dropped.key", []byte(strings.Join(append(rl[:2:2], rl[3:]...), "")), 0o600))
	cut := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes[:len(block.Bytes)-5]})
	l.bsi("", 1, "repo", "sign", ws, "--key", bad("cut.key", cut, 0o600))
	flipped := slices.Clone(block.Bytes)
	flipped[1] ^= 0x40 // the outer length
	l.both("", 1, "keys", "show", bad("flipped.key", pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: flipped}), 0o600))
	l.both("", 1, "keys", "show", bad("trailing.key", append(slices.Clone(targets), "and then some\n"...), 0o600))
	tl := lines(targets)
	l.bsi("", 1, "keys", "show", bad("truncated.key", []byte(strings.Join(tl[:len(tl)-2], "")), 0o600))
	l.bsi("", 1, "repo", "add", ws, "--manifest", l.path("m1.json"), "--payload", l.path("p1.tar.gz"), "--key", loose)
	// Failing publishes and refreshes: a destination under a file, the
	// online key made loose (a withdrawal waits to be published).
	notDir := l.path("bad/not-a-dir")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.both(pw, 1, "repo", "publish", ws, "--to", filepath.Join(notDir, "repo"))
	if err := os.Chmod(key("spare"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.bsi("", 1, "repo", "refresh", ws)
	l.stderrHas("mode 0644")
	l.bsi("", 0, "repo", "withdraw", ws, "webkit-26.3-b", "--reason", "breaks video", "--key", key("webkit"))
	l.both("", 1, "repo", "publish", ws)
	l.stderrHas("want mode 0600")
	if err := os.Chmod(key("spare"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.bsi("", 0, "repo", "publish", ws, "--to", l.path("elsewhere"))
	// ws/public now holds an older publish: refresh refuses it (issue 17).
	l.bsi("", 1, "repo", "refresh", ws)
	l.stderrHas("older than the workspace's last publish")
	l.bsi("", 0, "repo", "refresh", ws, "--to", l.path("elsewhere"))
}

// keySource is a private key file and the password that opens it.
type keySource struct {
	path     string
	password string
}

// keySources lists the life's private key files and the demos' (which
// bsi demo writes unencrypted to DIR/keys/NAME).
func (l *secretsLife) keySources(demoDirs []string) []keySource {
	var out []keySource
	for p := range l.keys {
		if filepath.Base(filepath.Dir(p)) == "keys" {
			out = append(out, keySource{p, secretsPassword})
		}
	}
	for _, d := range demoDirs {
		names, _ := filepath.Glob(filepath.Join(d, "keys", "*"))
		for _, p := range names {
			if !strings.HasSuffix(p, ".pub") {
				l.keys[p] = true
				out = append(out, keySource{p, ""})
			}
		}
	}
	if len(out) < 7+2*6 {
		l.t.Fatalf("only %d private key files found: %v", len(out), out)
	}
	return out
}

// secretForms returns every form of every private key to search for, and
// of the passwords, by a name that says which key and which form.
func (l *secretsLife) secretForms(demoDirs []string) (map[string]string, int) {
	forms := map[string]string{}
	for _, pw := range []string{secretsPassword, secretsWrong} {
		forms["password "+pw[:5]] = pw
		forms["password "+pw[:5]+" base64"] = base64.StdEncoding.EncodeToString([]byte(pw))[:len(pw)*4/3-2]
		forms["password "+pw[:5]+" hex"] = hex.EncodeToString([]byte(pw))
	}
	sources := l.keySources(demoDirs)
	chunks := map[string][]string{} // part of a PEM line: where it is
	for _, src := range sources {
		name := strings.TrimPrefix(src.path, l.dir+"/")
		data, err := os.ReadFile(src.path)
		if err != nil {
			l.t.Fatal(err)
		}
		forms[name+": the PEM file"] = strings.TrimSpace(string(data))
		for i, line := range strings.Split(string(data), "\n") {
			if len(line) < pemChunk || strings.HasPrefix(line, "-----") {
				continue
			}
			// A line, and its aligned quarters for a part of a line.
			forms[fmt.Sprintf("%s: PEM body line %d", name, i)] = line
			for j := 0; j+pemChunk <= len(line); j += pemChunk {
				chunks[line[j:j+pemChunk]] = append(chunks[line[j:j+pemChunk]], fmt.Sprintf("%s: PEM body line %d, characters %d-%d", name, i, j, j+pemChunk))
			}
		}
		block, _ := pem.Decode(data)
		der := block.Bytes
		if strings.HasPrefix(block.Type, "ENCRYPTED") {
			var env struct{ Ciphertext []byte }
			if err := json.Unmarshal(der, &env); err != nil {
				l.t.Fatal(err)
			}
			l.addBytes(forms, name+": encrypted ciphertext", env.Ciphertext, false)
			if der, err = encrypted.Decrypt(der, []byte(src.password)); err != nil {
				l.t.Fatalf("%s: %v", name, err)
			}
		}
		l.addBytes(forms, name+": PKCS#8 DER", der, false)
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			l.t.Fatalf("%s: %v", name, err)
		}
		switch k := priv.(type) {
		case ed25519.PrivateKey:
			l.addBytes(forms, name+": ed25519 seed", k.Seed(), true)
			l.addBytes(forms, name+": ed25519 64-byte key", k, false)
		case *ecdsa.PrivateKey:
			d, _ := k.Bytes()
			l.addBytes(forms, name+": ecdsa D", d, true)
			forms[name+": ecdsa D decimal"] = k.D.String() //nolint:staticcheck // the form fmt prints
		case *rsa.PrivateKey:
			l.addBytes(forms, name+": rsa D", k.D.Bytes(), true)
			forms[name+": rsa D decimal"] = k.D.String()
		default:
			l.t.Fatalf("%s: key of type %T", name, priv)
		}
	}
	// Parts found in several files are structure (the PKCS#8 header, the
	// envelope's JSON), not secret.
	for chunk, where := range chunks {
		if len(where) == 1 {
			forms[where[0]] = chunk
		}
	}
	return forms, len(sources)
}

// pemChunk is the length of the parts of PEM lines searched for: any 31
// characters of a line hold one.
const pemChunk = 16

// addBytes adds the forms of secret bytes b, and with halves of each half
// of them (a part of a secret is a leak too; not for bytes that hold a
// public key as well, such as the 64-byte ed25519 key): hex (both cases), as fmt prints a byte
// slice, and base64 and base64url at each of the three alignments the bytes
// may have inside a longer encoded text (the stable middle of the encoding
// of b after 0, 1 or 2 other bytes). It checks that each encoding of b
// inside other bytes is found.
func (l *secretsLife) addBytes(forms map[string]string, name string, b []byte, halves bool) {
	if n := len(b); halves && n >= 24 {
		l.addForms(forms, name+" first half", b[:n/2])
		l.addForms(forms, name+" second half", b[n/2:])
	}
	l.addForms(forms, name, b)
}

func (l *secretsLife) addForms(forms map[string]string, name string, b []byte) {
	forms[name+" hex"] = hex.EncodeToString(b)
	forms[name+" HEX"] = strings.ToUpper(hex.EncodeToString(b))
	forms[name+" as Go bytes"] = strings.Trim(fmt.Sprint(b), "[]")
	encs := map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding}
	for encName, enc := range encs {
		for k := range 3 {
			s := enc.EncodeToString(append(make([]byte, k), b...))
			forms[fmt.Sprintf("%s %s (alignment %d)", name, encName, k)] = s[4 : len(s)-4]
		}
		for k := range 5 {
			text := enc.EncodeToString(append(append([]byte("prefix")[:k], b...), "suffix"...))
			found := false
			for j := range 3 {
				found = found || strings.Contains(text, forms[fmt.Sprintf("%s %s (alignment %d)", name, encName, j)])
			}
			if !found {
				l.t.Fatalf("%s: the %s forms miss it after %d bytes", name, encName, k)
			}
		}
	}
}

// scanFiles adds every file under the test's directory (workspace, public
// tree, exported role, device state and install root, demo trees) except
// the private key files themselves, and returns how many.
func (l *secretsLife) scanFiles() int {
	n := 0
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || l.keys[p] || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		l.out = append(l.out, captured{"file", strings.TrimPrefix(p, l.dir+"/"), string(data)})
		return nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// TestRepoLooseKeyHint: the repo commands that load signing keys give the
// same hint as "bsi keys show" for a loose private key file.
func TestRepoLooseKeyHint(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	if code, _, stderr := runKeys(t, nil, "keys", "generate", "--out", key, "--insecure-no-password"); code != 0 {
		t.Fatal(stderr)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runKeys(t, nil, "repo", "sign", "--file", filepath.Join(dir, "root.json"), "--key", key)
	if code != exitFailure || !strings.Contains(stderr, "bsi: hint: chmod 600 "+key+"\n") {
		t.Errorf("repo sign with a 0644 key: exit %d, stderr %q; want exit 1 and the chmod hint", code, stderr)
	}
}
