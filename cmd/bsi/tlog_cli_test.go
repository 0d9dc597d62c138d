package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/publog"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/repo"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWitness runs "bsi witness serve" in-process on 127.0.0.1:0 and
// returns its URL and vkey; cancel stops it.
func (c *repoCLI) startWitness(t *testing.T, name, logVKey string) (url, vkey string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Now: time.Now, Logger: devicecli.OSEnv().Logger}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"witness", "serve", "--key", c.path(name + ".key"), "--name", name,
			"--state", c.path(name + "-state"), "--log", logVKey, "--listen", "127.0.0.1:0"}, e)
	}()
	re := regexp.MustCompile(`at (http://[^ ]+)/\nvkey (\S+)\n`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			var once sync.Once
			stop := func() {
				once.Do(func() {
					cancel()
					if code := <-done; code != 0 {
						t.Errorf("witness %s: exit %d: %s", name, code, errb.String())
					}
				})
			}
			t.Cleanup(stop)
			return m[1], m[2], stop
		}
		select {
		case code := <-done:
			t.Fatalf("witness %s exited %d: %s", name, code, errb.String())
		default:
		}
	}
	t.Fatalf("witness %s did not start: %s %s", name, out.String(), errb.String())
	return "", "", nil
}

func TestTransparencyPublishWitnessMonitor(t *testing.T) {
	c := newRepoCLI(t)
	k := func(n string) string { return c.path(n + ".key") }
	for _, name := range []string{"log", "w1", "w2", "w3"} {
		priv, _ := keys.Generate(keys.Ed25519)
		if err := keys.WriteKeyPair(k(name), priv, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	logSigner, err := keys.LoadSigner(ctx, k("log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "example.org/bsi-log"
	ns, err := witness.NewNoteSigner(origin, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	var wflags []string
	stops := map[string]func(){}
	for _, name := range []string{"w1", "w2", "w3"} {
		url, vkey, stop := c.startWitness(t, name, ns.VerifierKey())
		wflags = append(wflags, "--witness", name+"="+vkey+"@"+url)
		stops[name] = stop
	}

	ws := c.path("ws")
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--root-threshold", "1",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	// Usage errors.
	c.fail(exitUsage, append([]string{"repo", "tlog-enable", ws, "--log-key", k("log"), "--origin", origin, "--quorum", "4"}, wflags...)...)
	c.fail(exitUsage, "repo", "tlog-enable", ws, "--log-key", k("log"), "--origin", origin, "--quorum", "1")
	out := c.ok(append([]string{"repo", "tlog-enable", ws, "--log-key", k("log"), "--origin", origin, "--quorum", "3",
		"--key", k("targets")}, wflags...)...)
	if !strings.Contains(out, ns.VerifierKey()) {
		t.Fatalf("tlog-enable: %s", out)
	}
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "publish", ws)

	public := filepath.Join(ws, "public")
	cp, err := os.ReadFile(filepath.Join(public, transparency.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		if !bytes.Contains(cp, []byte("— "+w+" ")) {
			t.Fatalf("checkpoint without %s's cosignature:\n%s", w, cp)
		}
	}
	proofs, _ := filepath.Glob(filepath.Join(public, "targets", "webkit", "*"+transparency.ProofSuffix))
	if len(proofs) != 1 { // one payload name: sha256 alone by default
		t.Fatalf("proofs: %v", proofs)
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(public)))
	defer srv.Close()
	mon := c.path("mon")
	out = c.ok("monitor", srv.URL, "--root", filepath.Join(public, "1.root.json"), "--state", mon, "--component", "webkit", "--json")
	var rep monitorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Findings) != 0 || len(rep.Logged) != 1 {
		t.Fatalf("monitor on a clean repository: %v %s", err, out)
	}

	// A witness down, with a quorum of 3: the publish fails, names it,
	// and writes no metadata.
	stops["w2"]()
	m2, p2 := c.improvement("webkit-26.3-b", 2)
	c.ok("repo", "add", ws, "--manifest", m2, "--payload", p2, "--key", k("webkit"))
	before, _ := os.ReadFile(filepath.Join(public, "timestamp.json"))
	errs := c.fail(exitFailure, "repo", "publish", ws)
	t.Logf("publish with w2 down: %s", errs)
	if !strings.Contains(errs, "w2 (") || strings.Contains(errs, "w1 (") {
		t.Fatalf("publish with w2 down: %s", errs)
	}
	if after, _ := os.ReadFile(filepath.Join(public, "timestamp.json")); !bytes.Equal(before, after) {
		t.Fatal("timestamp.json changed although the witnesses' quorum was not met")
	}
	// Lower the quorum to 2 (through targets' key): publish goes through.
	c.ok(append([]string{"repo", "tlog-enable", ws, "--log-key", k("log"), "--origin", origin, "--quorum", "2",
		"--key", k("targets")}, wflags...)...)
	c.ok("repo", "publish", ws)
	c.ok("monitor", srv.URL, "--root", filepath.Join(public, "1.root.json"), "--state", mon)

	t.Run("TestAttackReleaseTheTeamNeverMade", func(t *testing.T) {
		// The attacker holds the webkit key and the log key: to get one
		// device to install a release it logs it (devices require a
		// proof), and the witnesses cosign only one history, so the entry
		// lands in the log everybody reads, while the repository the team
		// publishes never lists it.
		pol, _ := os.ReadFile(filepath.Join(ws, "transparency", "tlog-policy"))
		evil := transparency.Entry{Kind: transparency.KindImprovement, Component: "webkit", Path: "webkit/webkit-26.3-evil.tar.gz",
			Length: 666, Hashes: map[string]string{"sha256": strings.Repeat("ab", 32)}, ManifestSHA256: strings.Repeat("cd", 32),
			Role: "webkit", RoleVersion: 9}
		attackerMirror, err := repo.DirDestination(c.path("mirror"))
		if err != nil {
			t.Fatal(err)
		}
		l := publog.New(publog.Options{Dir: filepath.Join(ws, "transparency"), Signer: ns})
		if err := l.LogPublish(ctx, attackerMirror, &repo.TransparencyFacts{Policy: pol,
			Improvements: []repo.LoggedImprovement{{Entry: evil, Files: []string{"targets/webkit/evil"}}}}); err != nil {
			t.Fatal(err)
		}
		// The team's next publish carries the log as it is.
		m3, p3 := c.improvement("webkit-26.3-c", 3)
		c.ok("repo", "add", ws, "--manifest", m3, "--payload", p3, "--key", k("webkit"))
		c.ok("repo", "publish", ws)
		code, out, errs := c.run(ctx, "monitor", srv.URL, "--root", filepath.Join(public, "1.root.json"), "--state", mon, "--component", "webkit")
		if code != exitSecurity || !strings.Contains(out, "FINDING logged-not-listed webkit/webkit-26.3-evil.tar.gz") ||
			!strings.Contains(out, "webkit entry") {
			t.Fatalf("monitor: exit %d\n%s%s", code, out, errs)
		}
	})

	t.Run("TestAttackCheckpointWithoutQuorum", func(t *testing.T) {
		// A mirror serves the checkpoint with one cosignature only, or
		// with forged ones: the monitor refuses it (exit 3).
		cpPath := filepath.Join(public, transparency.CheckpointPath)
		good, _ := os.ReadFile(cpPath)
		defer os.WriteFile(cpPath, good, 0o644)
		lines := strings.SplitAfter(string(good), "\n")
		var one, forged strings.Builder
		witnesses := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "— w") {
				witnesses++
				if witnesses > 1 {
					fields := strings.Fields(l)
					b := []byte(fields[2])
					b[10] ^= 1 // still base64, another signature
					forged.WriteString(fields[0] + " " + fields[1] + " " + string(b) + "\n")
					continue
				}
			}
			one.WriteString(l)
			forged.WriteString(l)
		}
		for what, cp := range map[string]string{"one cosignature": one.String(), "forged cosignatures": forged.String()} {
			os.WriteFile(cpPath, []byte(cp), 0o644)
			code, out, errs := c.run(ctx, "monitor", srv.URL, "--root", filepath.Join(public, "1.root.json"), "--state", mon)
			if code != exitSecurity {
				t.Fatalf("%s: exit %d\n%s%s", what, code, out, errs)
			}
		}
	})

	t.Run("TestAttackSplitViewMonitorState", func(t *testing.T) {
		// The monitor's last checkpoint is replaced by a fork of the same
		// size: the next run reports the inconsistency (exit 3).
		st, _ := os.ReadFile(filepath.Join(mon, "checkpoint.json"))
		forged := regexp.MustCompile(`"hash": "[0-9a-f]{64}"`).ReplaceAll(st, []byte(`"hash": "`+strings.Repeat("00", 32)+`"`))
		os.WriteFile(filepath.Join(mon, "checkpoint.json"), forged, 0o644)
		c.fail(exitSecurity, "monitor", srv.URL, "--root", filepath.Join(public, "1.root.json"), "--state", mon)
	})
}
